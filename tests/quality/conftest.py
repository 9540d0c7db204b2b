"""Load the issue-9 quality scripts (scripts/ is not a package) as modules for the tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _load(name: str):
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))  # the scripts import quality_lib by name
    spec = importlib.util.spec_from_file_location(f"_quality_{name}", SCRIPTS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def realdata():
    return _load("realdata_mese")


@pytest.fixture(scope="session")
def phantom_quality():
    return _load("phantom_quality")


@pytest.fixture(scope="session")
def qlib():
    return _load("quality_lib")


@pytest.fixture(scope="session")
def phantom_ceilings():
    return _load("phantom_ceilings")


@pytest.fixture(scope="session")
def paired_ceiling():
    return _load("paired_ceiling")


@pytest.fixture(scope="session")
def error_budget():
    return _load("error_budget")
