"""Read a user-supplied JSON file with one clear error (the writers are in ``io/atomic.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cyclescan.errors import InputError


def read_json(path: str | Path, what: str) -> Any:
    """Parsed JSON of ``path``; InputError ``"<path>: cannot read <what> JSON (<ErrorClass>)"`` when
    the file is missing, unreadable, not UTF-8 or not JSON. ``what`` names the expected content."""
    p = Path(path)
    try:
        return json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{p}: cannot read {what} JSON ({exc.__class__.__name__})") from exc
