"""Fixtures of the bad-input CLI tests: the full corpus (issue 8) and paired evaluation targets."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def full_corpus(tmp_path_factory):
    """{name: path} of every corpus entry (see badinput.corpus.make_full_corpus)."""
    from badinput.corpus import make_full_corpus

    return make_full_corpus(tmp_path_factory.mktemp("full_corpus"))
