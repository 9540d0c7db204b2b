"""Fixtures of the bad-input CLI tests: the full corpus (issue 8) and paired evaluation targets."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))  # so `badinput.corpus` imports from any test folder


@pytest.fixture(scope="session")
def full_corpus(tmp_path_factory):
    """{name: path} of every corpus entry (see badinput.corpus.make_full_corpus)."""
    from badinput.corpus import make_full_corpus

    return make_full_corpus(tmp_path_factory.mktemp("full_corpus"))
