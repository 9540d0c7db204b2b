"""Resume equivalence: stopped (SIGINT) and resumed == uninterrupted, in deterministic mode."""

from __future__ import annotations

import os
from pathlib import Path
import signal

import pytest
import torch

from cyclescan.train import checkpoint as ck
from cyclescan.train.history import TIMING_COLUMNS, History
from cyclescan.train.trainer import train

from tiny_run import tiny_cfg


@pytest.fixture
def dataset(tiny_dataset):
    return tiny_dataset


@pytest.fixture
def straight(tiny_straight_run):
    return tiny_straight_run[0]


def _run(cfg, dataset, out, resume=False):
    return train(cfg, dataset["a_train"], dataset["b_train"], out, val_a=dataset["a_val"], val_b=dataset["b_val"],
                 resume=resume, progress=False)


def assert_same_run(a, b):
    la, lb = ck.load_checkpoint(a / "checkpoints" / "last.pt"), ck.load_checkpoint(b / "checkpoints" / "last.pt")
    assert la["epoch"] == lb["epoch"] and la["step"] == lb["step"]
    for name in ck.NET_NAMES:
        for k, v in la["nets"][name].items():
            assert torch.equal(v, lb["nets"][name][k]), f"{name}.{k} differs"
    ra, rb = History.read_csv(a / "history.csv"), History.read_csv(b / "history.csv")
    assert len(ra) == len(rb)
    for x, y in zip(ra, rb):
        assert {k: v for k, v in x.items() if k not in TIMING_COLUMNS} == \
               {k: v for k, v in y.items() if k not in TIMING_COLUMNS}
    assert la["best"] == lb["best"]


def _interrupt_after(monkeypatch, n_steps: int):
    """Send ourselves SIGINT after the n-th training step (the trainer saves and returns)."""
    from cyclescan.train.cyclegan import CycleGAN

    real = CycleGAN.step
    count = {"n": 0}

    def step(self, *a, **k):
        out = real(self, *a, **k)
        count["n"] += 1
        if count["n"] == n_steps:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(CycleGAN, "step", step)


def assert_resume_is_exact(cfg, dataset, tmp_path, monkeypatch, stop_step: int = 3) -> Path:
    """Run ``cfg`` straight, and again stopped by SIGINT after ``stop_step`` steps then resumed;
    assert both runs end identical. Returns the straight run's folder."""
    straight, cut = tmp_path / "straight", tmp_path / "cut"
    _run(cfg, dataset, straight)
    with monkeypatch.context() as m:
        _interrupt_after(m, stop_step)
        _run(cfg, dataset, cut)
    assert ck.load_checkpoint(cut / "checkpoints" / "last.pt")["step"] == stop_step
    _run(cfg, dataset, cut, resume=True)
    assert_same_run(straight, cut)
    return straight


@pytest.mark.parametrize("stop_step", [4, pytest.param(6, marks=pytest.mark.slow)], ids=["after_epoch_1", "mid_epoch_2"])
def test_sigint_then_resume_equals_straight_run(straight, dataset, tmp_path, monkeypatch, stop_step):
    out = tmp_path / "RUN"
    with monkeypatch.context() as m:
        _interrupt_after(m, stop_step)
        _run(tiny_cfg(), dataset, out)
    last = ck.load_checkpoint(out / "checkpoints" / "last.pt")
    assert last["epoch"] == 1 and last["step"] == stop_step
    assert (last["partial"] is None) == (stop_step == 4)
    assert len(History.read_csv(out / "history.csv")) == 1
    _run(tiny_cfg(), dataset, out, resume=True)
    assert_same_run(straight, out)


# kill -9 mid-epoch then resume: tests/reliability/test_crash_safety.py (fault-injected, asserts
# the process really died by SIGKILL at a chosen step).


def test_resume_with_more_epochs_and_a_new_lr_follows_the_new_schedule(straight, dataset, tmp_path):
    import shutil

    from cyclescan.train.cyclegan import linear_decay_factor

    out = tmp_path / "RUN"
    shutil.copytree(straight, out)  # a finished 3-epoch run (its saved LR is 0)
    _run(tiny_cfg("train.epochs=5", "optim.lr=0.001"), dataset, out, resume=True)
    rows = History.read_csv(out / "history.csv")
    lrs = [float(r["lr"]) for r in rows]
    assert len(lrs) == 5
    decay = tiny_cfg("train.epochs=5").decay_epochs()
    for e in (3, 4):  # the resumed epochs: the new config's LR at the completed-epoch index
        assert lrs[e] == pytest.approx(0.001 * linear_decay_factor(e, 5, decay)), lrs
    assert lrs[3] > 0.0
