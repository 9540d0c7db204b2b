"""Shared tiny phantom data set (16x32x32) generated once per test session."""

from __future__ import annotations

import pytest

from cyclescan.phantom import generate_dataset

SMALL = dict(train_subjects=2, val_subjects=1, test_subjects=2, shape=(16, 32, 32), snr=20.0, seed=3)


@pytest.fixture(scope="session")
def small_params():
    return dict(SMALL)


@pytest.fixture(scope="session")
def small_phantom(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("phantom") / "out", **SMALL)
