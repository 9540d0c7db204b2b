"""`cyclescan evaluate` (being implemented)."""

from __future__ import annotations

from cyclescan.cli.common import HELP_FORMATTER
from cyclescan.errors import CycleScanError


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="(not yet implemented)", formatter_class=HELP_FORMATTER)
    p.set_defaults(func=run)


def run(args) -> int:
    raise CycleScanError("'evaluate' is not implemented yet")
