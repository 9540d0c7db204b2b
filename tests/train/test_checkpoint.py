"""Checkpoint save/load: atomic, weights_only, clear errors, RNG round trip, compatibility."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

from cyclescan.config import Config
from cyclescan.errors import CheckpointError, TrainingError
from cyclescan.train import checkpoint as ck


def _state(cfg: Config | None = None) -> dict:
    cfg = cfg or Config()
    net = torch.nn.Conv3d(1, 2, 3)
    return {
        "config": cfg.to_dict(), "epoch": 3, "step": 30,
        "nets": {n: net.state_dict() for n in ck.NET_NAMES},
        "norm": {"a": {"lo": 0.0, "hi": 1.0}, "b": {"lo": 2.0, "hi": 5.0}},
        "reference": {"a": torch.linspace(-1, 1, 5), "b": torch.linspace(-1, 1, 5)},
        "rng": ck.rng_state(), "history": [{"epoch": 1, "lr": 2e-4}], "best": {"metric": "ssim", "value": -0.5, "epoch": 1},
    }


def test_round_trip(tmp_path):
    path = ck.save_checkpoint(tmp_path / "c.pt", _state())
    out = ck.load_checkpoint(path)
    assert out["format_version"] == ck.FORMAT_VERSION
    assert out["epoch"] == 3 and out["history"][0]["epoch"] == 1
    assert torch.equal(out["reference"]["b"], torch.linspace(-1, 1, 5))
    assert not [p for p in tmp_path.iterdir() if p.name != "c.pt"], "temp files left behind"


def test_rng_round_trip():
    state = ck.rng_state()
    a = (random.random(), np.random.rand(), torch.rand(3))
    ck.set_rng_state(state)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_rng_survives_weights_only(tmp_path):
    """The state that comes back from disk is the one saved: draws after restoring it repeat the
    draws made right after saving (not merely two restores of whatever was loaded)."""
    state = _state()  # takes ck.rng_state() now
    expected = (random.random(), np.random.rand(), torch.rand(4))
    ck.save_checkpoint(tmp_path / "c.pt", state)
    torch.rand(100), np.random.rand(100), random.random()  # move every generator on
    ck.set_rng_state(ck.load_checkpoint(tmp_path / "c.pt")["rng"])
    got = (random.random(), np.random.rand(), torch.rand(4))
    assert got[0] == expected[0] and got[1] == expected[1] and torch.equal(got[2], expected[2])


@pytest.mark.parametrize("kind", ["missing", "empty", "truncated", "garbage", "pickle", "wrong_format", "no_version"])
def test_bad_files_raise_checkpoint_error(tmp_path, kind):
    path = tmp_path / "bad.pt"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        ck.save_checkpoint(path, _state())
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "garbage":
        path.write_text("this is not a checkpoint")
    elif kind == "pickle":
        class Evil:  # noqa: D401 - a class needing code execution on load
            def __reduce__(self):
                return (os.getcwd, ())
        torch.save({"format_version": 1, "x": Evil()}, path)
    elif kind == "wrong_format":
        torch.save({"format_version": 999, "config": {}}, path)
    elif kind == "no_version":
        torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError) as exc:
        ck.load_checkpoint(path)
    assert str(path) in str(exc.value)
    if kind == "pickle":
        assert "pickle" in str(exc.value)


def test_pickle_payload_not_executed(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"format_version": 1, "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError):
        ck.load_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()


def test_incompatible_architecture(tmp_path):
    ck.save_checkpoint(tmp_path / "c.pt", _state())
    loaded = ck.load_checkpoint(tmp_path / "c.pt")
    ck.check_compatible(loaded, Config())  # same architecture: fine
    other = Config().with_overrides(["generator.base_channels=8"])
    with pytest.raises(CheckpointError, match="generator.base_channels"):
        ck.check_compatible(loaded, other)
    # non-architecture keys may change on resume
    ck.check_compatible(loaded, Config().with_overrides(["train.epochs=7", "optim.lr=0.001"]))


def test_failed_write_keeps_previous(tmp_path, monkeypatch):
    path = ck.save_checkpoint(tmp_path / "last.pt", _state())
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(TrainingError, match="disk full.*previous checkpoint"):  # OSError -> one clear line (issue 8)
        ck.save_checkpoint(path, _state())
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_load_weights_shape_mismatch():
    net = torch.nn.Conv3d(1, 2, 3)
    with pytest.raises(CheckpointError, match="G_ab"):
        ck.load_weights(net, torch.nn.Conv3d(1, 4, 3).state_dict(), "G_ab")
