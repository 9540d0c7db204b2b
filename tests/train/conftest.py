"""Shared fixtures for the trainer tests (tiny dataset, one uninterrupted 3-epoch run)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny_run import make_dataset, tiny_cfg  # noqa: E402


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """{a_train, b_train, a_val, b_val}: 2 + 2 training volumes, 1 + 1 paired val volumes (16x32x32)."""
    return make_dataset(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_straight_run(tiny_dataset, tmp_path_factory):
    """RUN dir of an uninterrupted 3-epoch deterministic run with validation (and its best path)."""
    from cyclescan.train.trainer import train

    out = tmp_path_factory.mktemp("straight") / "RUN"
    best = train(tiny_cfg(), tiny_dataset["a_train"], tiny_dataset["b_train"], out, val_a=tiny_dataset["a_val"],
                 val_b=tiny_dataset["b_val"], progress=False)
    return out, best
