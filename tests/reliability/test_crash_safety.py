"""Crash safety of training and translation (issue 8): kill -9, disk full, SIGTERM, NaN loss, outliers.

Faults are injected deterministically with CYCLESCAN_FAULT (cyclescan.faults): each names a point
(``step``, ``validation``, ``epoch_end``, ``write:<file>``) and the hit that kills / signals /
raises. The tiny deterministic run of tests/train (3 epochs x 4 steps, validation every epoch,
epoch_0002.pt) is the reference: a killed-and-resumed run must end bit-identical to it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cyclescan import faults
from cyclescan.cli.main import main
from cyclescan.errors import TrainingError
from cyclescan.train import checkpoint as ck
from cyclescan.train.history import History

from test_resume import assert_same_run  # tests/train (on sys.path via tests/conftest.py)
from tiny_run import TINY, tiny_cfg

# point -> (what it interrupts). Epoch 1 is always committed first, so last.pt exists.
KILL_POINTS = {
    "step:6": "mid-step (G updated, D not) in epoch 2",
    "validation:3": "mid-validation of epoch 2",
    "write:last.pt:2": "mid-checkpoint write (last.pt of epoch 2, temp complete, not renamed)",
    "write:epoch_0002.pt:1": "mid-checkpoint write (epoch_0002.pt)",
    "write:epoch_0002.png:1": "mid-sample writing (epoch 2)",
    "write:history.csv:2": "after last.pt of epoch 2, before history.csv",
    "epoch_end:1": "between epochs 1 and 2",
    "write:last.pt:3": "mid-checkpoint write (last.pt of the final epoch 3)",
}


def _train_cmd(ds: dict, out: Path, *extra: str) -> list[str]:
    sets = [x for s in TINY for x in ("--set", s)]
    return [sys.executable, "-m", "cyclescan.cli.main", "train", "--a", str(ds["a_train"]), "--b",
            str(ds["b_train"]), "--val-a", str(ds["a_val"]), "--val-b", str(ds["b_val"]), "--out", str(out),
            "--quiet", *sets, *extra]


def _env(fault: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("CYCLESCAN_FAULT", "CYCLESCAN_DEBUG")}
    if fault:
        env["CYCLESCAN_FAULT"] = fault
    return env


def _no_temporaries(root: Path) -> None:
    left = [p for p in root.rglob(".*.part*")]
    assert not left, f"temporary files left: {left}"


def _history_epochs(run: Path) -> list[int]:
    return [int(r["epoch"]) for r in History.read_csv(run / "history.csv")]


@pytest.mark.slow
@pytest.mark.parametrize("point", list(KILL_POINTS), ids=list(KILL_POINTS))
def test_kill9_then_resume_equals_straight_run(point, tiny_dataset, tiny_straight_run, tmp_path):
    out = tmp_path / "RUN"
    proc = subprocess.run(_train_cmd(tiny_dataset, out), env=_env(point), capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, f"fault {point} did not fire: rc {proc.returncode}\n{proc.stderr}"
    last = ck.load_checkpoint(out / "checkpoints" / "last.pt")  # always loadable after a kill
    assert last["epoch"] >= 1
    assert _history_epochs(out) == list(range(1, len(_history_epochs(out)) + 1))
    proc = subprocess.run(_train_cmd(tiny_dataset, out, "--resume"), env=_env(None), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert _history_epochs(out) == [1, 2, 3]  # no duplicated or lost epoch
    assert_same_run(tiny_straight_run[0], out)  # bit-identical weights, same history and best
    _no_temporaries(out)
    assert sorted(p.name for p in (out / "samples").iterdir()) == [f"epoch_000{e}.png" for e in (1, 2, 3)]


@pytest.mark.slow
def test_sigterm_subprocess_exits_cleanly_and_resumes(tiny_dataset, tiny_straight_run, tmp_path):
    out = tmp_path / "RUN"
    proc = subprocess.run(_train_cmd(tiny_dataset, out), env=_env("step:6:sigterm"), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "stopped by SIGTERM" in proc.stderr and "Traceback" not in proc.stderr
    last = ck.load_checkpoint(out / "checkpoints" / "last.pt")
    assert last["epoch"] == 1 and last["partial"]["steps_done"] == 2
    proc = subprocess.run(_train_cmd(tiny_dataset, out, "--resume"), env=_env(None), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert_same_run(tiny_straight_run[0], out)


# ---------------------------------------------------------------------------------------------
# Fast, in-process


def _train(ds: dict, out: Path, *sets: str, val: bool = False):
    from cyclescan.train.trainer import train

    return train(tiny_cfg(*sets), ds["a_train"], ds["b_train"], out, val_a=ds["a_val"] if val else None,
                 val_b=ds["b_val"] if val else None, progress=False, log=lambda _m: None)


def test_fault_spec_parsing():
    assert faults.parse_spec("write:last.pt:2,step:5:sigterm") == [("write:last.pt", 2, "kill"), ("step", 5, "sigterm")]
    with pytest.raises(ValueError):
        faults.parse_spec("step")


def test_atomic_write_enospc_keeps_previous_file(tmp_path, monkeypatch):
    from cyclescan.io.atomic import atomic_write_text

    dest = tmp_path / "history.csv"
    atomic_write_text(dest, "old\n")
    monkeypatch.setenv("CYCLESCAN_FAULT", "write:history.csv:1:enospc")
    faults.reset()
    with pytest.raises(OSError, match="No space left"):
        atomic_write_text(dest, "new\n")
    assert dest.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv"]


def test_disk_full_during_checkpoint_keeps_previous(tiny_dataset, tmp_path, monkeypatch):
    """ENOSPC while writing epoch 2's last.pt: a one-line TrainingError, epoch 1's last.pt intact."""
    out = tmp_path / "RUN"
    monkeypatch.setenv("CYCLESCAN_FAULT", "write:last.pt:2:enospc")
    faults.reset()
    with pytest.raises(TrainingError, match=r"last\.pt: cannot write checkpoint .*previous checkpoint .* kept"):
        _train(tiny_dataset, out, "train.epochs=2", "train.checkpoint_every=5")
    last = ck.load_checkpoint(out / "checkpoints" / "last.pt")
    assert last["epoch"] == 1 and last["step"] == 4
    _no_temporaries(out)


def test_stop_after_a_validated_epoch_returns_the_best_so_far(tiny_dataset, tmp_path, monkeypatch):
    """A stop in epoch 2 returns epoch 1's best.pt (what `cyclescan train` prints as the best
    checkpoint), not the resumable mid-epoch last.pt."""
    out = tmp_path / "RUN"
    monkeypatch.setenv("CYCLESCAN_FAULT", "step:6:sigterm")  # 4 steps per tiny epoch: mid epoch 2
    faults.reset()
    best = _train(tiny_dataset, out, "train.epochs=2", val=True)
    assert best == out / "checkpoints" / "best.pt"
    assert ck.load_checkpoint(best)["epoch"] == 1
    last = ck.load_checkpoint(out / "checkpoints" / "last.pt")
    assert last["epoch"] == 1 and last["partial"]["steps_done"] == 2


def test_sigterm_mid_epoch_saves_resumable_checkpoint(tiny_dataset, tmp_path, monkeypatch):
    out = tmp_path / "RUN"
    monkeypatch.setenv("CYCLESCAN_FAULT", "step:2:sigterm")
    faults.reset()
    handler = signal.getsignal(signal.SIGTERM)
    _train(tiny_dataset, out, "train.epochs=1")  # returns normally
    assert signal.getsignal(signal.SIGTERM) == handler  # handlers restored
    last = ck.load_checkpoint(out / "checkpoints" / "last.pt")
    assert last["epoch"] == 0 and last["step"] == 2 and last["partial"]["steps_done"] == 2
    monkeypatch.delenv("CYCLESCAN_FAULT")
    from cyclescan.train.trainer import train

    train(tiny_cfg("train.epochs=1"), tiny_dataset["a_train"], tiny_dataset["b_train"], out, resume=True,
          progress=False, log=lambda _m: None)
    done = ck.load_checkpoint(out / "checkpoints" / "last.pt")
    assert done["epoch"] == 1 and done["step"] == 4 and done["partial"] is None
    assert _history_epochs(out) == [1]
    # Mid-epoch resume is bit-exact (data order, augmentation RNG, pools, optimizer), not only
    # counted right: the same epoch without the stop gives identical weights.
    straight = tmp_path / "STRAIGHT"
    train(tiny_cfg("train.epochs=1"), tiny_dataset["a_train"], tiny_dataset["b_train"], straight, progress=False,
          log=lambda _m: None)
    assert_same_run(straight, out)  # bit-identical weights, same history and best


def test_nan_loss_stops_naming_step_and_keeps_last_good(tiny_dataset, tmp_path, monkeypatch, capsys):
    """A NaN batch in epoch 2 (step 6): exit 1, one line naming the step and the loss; last.pt = epoch 1."""
    from cyclescan.train.data_setup import TrainData

    real = TrainData.epoch_batches

    def poisoned(self, epoch, skip=0, meter=None):
        for i, batch in enumerate(real(self, epoch, skip, meter), start=skip):
            if epoch == 2 and i == 1:
                batch = {**batch, "a": torch.full_like(batch["a"], float("nan"))}
            yield batch

    monkeypatch.setattr(TrainData, "epoch_batches", poisoned)
    out = tmp_path / "RUN"
    sets = [x for s in TINY + ["train.epochs=3"] for x in ("--set", s)]
    rc = main(["train", "--a", str(tiny_dataset["a_train"]), "--b", str(tiny_dataset["b_train"]), "--out", str(out),
               "--quiet", *sets])
    err = [ln for ln in capsys.readouterr().err.splitlines() if "error" in ln]
    assert rc == 1 and len(err) == 1, err
    assert "step 6 (epoch 2)" in err[0] and "non-finite loss" in err[0] and "G_total" in err[0]
    last = ck.load_checkpoint(out / "checkpoints" / "last.pt")
    assert last["epoch"] == 1 and last["step"] == 4
    for name in ck.NET_NAMES:
        assert all(torch.isfinite(v).all() for v in last["nets"][name].values() if v.is_floating_point())
    assert _history_epochs(out) == [1]


def test_outlier_voxels_normalize_sensibly():
    """A few voxels at 1e6 do not squash the tissue: percentile window ~ unchanged, outliers clip to 1."""
    import sys as _sys

    from cyclescan.config import DataConfig
    from cyclescan.data.normalize import fit_stats, foreground_mask, normalize

    _sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from badinput.corpus import phantom_array

    clean = phantom_array((16, 32, 32))
    hot = clean.copy()
    idx = np.random.default_rng(0).choice(hot.size, 5, replace=False)
    hot.flat[idx] = 1e6
    cfg = DataConfig()
    s0 = fit_stats(clean, cfg.norm_lower_percentile, cfg.norm_upper_percentile, foreground_mask(clean))
    s1 = fit_stats(hot, cfg.norm_lower_percentile, cfg.norm_upper_percentile, foreground_mask(hot))
    assert abs(s1.hi - s0.hi) < 0.02 * (s0.hi - s0.lo) and abs(s1.lo - s0.lo) < 0.02 * (s0.hi - s0.lo)
    n0, n1 = normalize(clean, s0), normalize(hot, s1)
    keep = np.ones(hot.size, bool)
    keep[idx] = False
    assert np.abs(n1.ravel()[keep] - n0.ravel()[keep]).max() < 0.05
    assert np.all(n1.ravel()[idx] == 1.0)
    assert n1.min() >= -1 and n1.max() <= 1


# ---------------------------------------------------------------------------------------------
# Translation of several inputs


@pytest.fixture
def translate_setup(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from badinput.corpus import _nifti, make_checkpoint, phantom_array

    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(3):
        _nifti(inputs / f"knee{i}.nii.gz", phantom_array((12, 24, 24), seed=i), np.diag([2.0, 0.5, 0.5, 1.0]))
    return inputs, make_checkpoint(tmp_path / "model.pt"), tmp_path / "out"


def _translate_argv(inputs: Path, ckpt: Path, out: Path, *extra: str) -> list[str]:
    return ["translate", str(inputs), "--checkpoint", str(ckpt), "--direction", "a2b", "--out", str(out),
            "--quiet", *extra]


def _check_complete(path: Path, src: Path) -> None:
    from cyclescan.io import read_volume

    a, b = read_volume(path), read_volume(src)
    assert a.shape == b.shape and np.allclose(a.affine, b.affine) and np.isfinite(a.array).all()


def test_write_error_mid_translate_keeps_finished_outputs(translate_setup, monkeypatch, capsys):
    inputs, ckpt, out = translate_setup
    monkeypatch.setenv("CYCLESCAN_FAULT", "write:*.nii.gz:2:enospc")
    faults.reset()
    rc = main(_translate_argv(inputs, ckpt, out))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "No space left on device" in err[0]
    assert sorted(p.name for p in out.iterdir()) == ["knee0.nii.gz"]  # the unfinished one is absent
    _check_complete(out / "knee0.nii.gz", inputs / "knee0.nii.gz")
    monkeypatch.delenv("CYCLESCAN_FAULT")
    mtime = (out / "knee0.nii.gz").stat().st_mtime_ns
    assert main(_translate_argv(inputs, ckpt, out)) == 0
    assert (out / "knee0.nii.gz").stat().st_mtime_ns == mtime  # skipped
    assert sorted(p.name for p in out.iterdir()) == [f"knee{i}.nii.gz" for i in range(3)]


@pytest.mark.slow
def test_kill9_mid_translate_then_rerun(translate_setup):
    inputs, ckpt, out = translate_setup
    cmd = [sys.executable, "-m", "cyclescan.cli.main", *_translate_argv(inputs, ckpt, out)]
    proc = subprocess.run(cmd, env=_env("write:*.nii.gz:2"), capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL
    visible = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert visible == ["knee0.nii.gz"]  # finished: complete; unfinished: absent (only a hidden temp)
    _check_complete(out / "knee0.nii.gz", inputs / "knee0.nii.gz")
    mtime = (out / "knee0.nii.gz").stat().st_mtime_ns
    proc = subprocess.run(cmd, env=_env(None), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (out / "knee0.nii.gz").stat().st_mtime_ns == mtime  # skipped, not rewritten
    assert sorted(p.name for p in out.iterdir()) == [f"knee{i}.nii.gz" for i in range(3)]  # temp cleaned
    proc = subprocess.run(cmd + ["--overwrite"], env=_env(None), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (out / "knee0.nii.gz").stat().st_mtime_ns != mtime
    for i in range(3):
        _check_complete(out / f"knee{i}.nii.gz", inputs / f"knee{i}.nii.gz")
