"""Fixtures of the crash-safety tests: the trainer tests' tiny dataset/config and a straight run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
for sub in (TESTS, TESTS / "train"):
    if str(sub) not in sys.path:
        sys.path.insert(0, str(sub))  # tiny_run (tests/train) and badinput.corpus

from tiny_run import make_dataset, tiny_cfg  # noqa: E402


@pytest.fixture(scope="session")
def rel_dataset(tmp_path_factory):
    """{a_train, b_train, a_val, b_val}: 2 + 2 training and 1 + 1 paired val volumes (16x32x32)."""
    return make_dataset(tmp_path_factory.mktemp("rel_data"))


@pytest.fixture(scope="session")
def rel_straight(rel_dataset, tmp_path_factory) -> Path:
    """RUN of an uninterrupted deterministic 3-epoch run (4 steps/epoch, validation every epoch)."""
    from cyclescan.train.trainer import train

    out = tmp_path_factory.mktemp("rel_straight") / "RUN"
    train(tiny_cfg(), rel_dataset["a_train"], rel_dataset["b_train"], out, val_a=rel_dataset["a_val"],
          val_b=rel_dataset["b_val"], progress=False, log=lambda _m: None)
    return out
