"""`cyclescan report` (being implemented)."""

from __future__ import annotations

from cyclescan.cli.common import HELP_FORMATTER
from cyclescan.errors import CycleScanError


def register(sub) -> None:
    p = sub.add_parser("report", help="(not yet implemented)", formatter_class=HELP_FORMATTER)
    p.set_defaults(func=run)


def run(args) -> int:
    raise CycleScanError("'report' is not implemented yet")
