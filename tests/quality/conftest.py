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
    sys.modules[spec.name] = mod  # dataclasses in a script look their module up while it loads
    spec.loader.exec_module(mod)
    return mod


def _script_fixture(script: str):
    """A session fixture that loads scripts/SCRIPT.py once."""
    @pytest.fixture(scope="session")
    def fixture():
        return _load(script)
    return fixture


# fixture name -> the script it loads
realdata = _script_fixture("realdata_mese")
phantom_quality = _script_fixture("phantom_quality")
qlib = _script_fixture("quality_lib")
phantom_ceilings = _script_fixture("phantom_ceilings")
paired_ceiling = _script_fixture("paired_ceiling")
error_budget = _script_fixture("error_budget")
learning_curve = _script_fixture("learning_curve")
tissue_visibility = _script_fixture("tissue_visibility")
discriminator_probe = _script_fixture("discriminator_probe")
