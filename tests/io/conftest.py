"""Shared fixtures: the bad-input corpus (tests/badinput) and the real MESE DICOM folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))  # so `badinput.corpus` imports from any test folder

MESE_DIR = TESTS.parent / ".." / "shared" / "data" / "knee_mese_t2" / "dicom"


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    from badinput.corpus import make_corpus

    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def mese_dir() -> Path:
    if not MESE_DIR.is_dir():
        pytest.skip(f"real MESE DICOM data not found at {MESE_DIR}")
    return MESE_DIR.resolve()
