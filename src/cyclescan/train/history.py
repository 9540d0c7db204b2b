"""Per-epoch training history: one row per epoch, kept in the checkpoint and mirrored to CSV.

The checkpoint holds the authoritative copy (a list of plain dicts), so a resumed run rewrites
``RUN/history.csv`` from it: no epoch is duplicated or lost after a crash.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Iterable

from cyclescan.io.atomic import atomic_write_text

# Columns that come first in the CSV, in this order; loss columns follow as they appear.
LEAD_COLUMNS = ("epoch", "step", "lr", "seconds", "data_wait_frac")
TAIL_COLUMNS = ("selection_score", "best")
# Columns that depend on wall time and so differ between otherwise identical runs.
TIMING_COLUMNS = ("seconds", "data_wait_frac")


class History:
    """Ordered list of per-epoch rows ``{column: float | int | str}``."""

    def __init__(self, rows: Iterable[dict[str, Any]] | None = None) -> None:
        self.rows: list[dict[str, Any]] = [dict(r) for r in rows or []]

    def append(self, row: dict[str, Any]) -> None:
        epoch = int(row["epoch"])
        if self.rows and int(self.rows[-1]["epoch"]) >= epoch:
            raise ValueError(f"history already has epoch {epoch}")
        self.rows.append(dict(row))

    def truncate(self, epoch: int) -> None:
        """Keep rows of epochs <= ``epoch`` (used when resuming)."""
        self.rows = [r for r in self.rows if int(r["epoch"]) <= epoch]

    def columns(self) -> list[str]:
        seen: list[str] = []
        for r in self.rows:
            seen.extend(k for k in r if k not in seen)
        lead = [c for c in LEAD_COLUMNS if c in seen]
        tail = [c for c in TAIL_COLUMNS if c in seen]
        middle = [c for c in seen if c not in lead and c not in tail]
        return lead + middle + tail

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns(), restval="", lineterminator="\n")
        writer.writeheader()
        for r in self.rows:
            writer.writerow({k: _fmt(v) for k, v in r.items()})
        return buf.getvalue()

    def write_csv(self, path: str | Path) -> None:
        atomic_write_text(path, self.to_csv())

    def state_dict(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.rows]

    @classmethod
    def from_state(cls, rows: list[dict[str, Any]] | None) -> "History":
        return cls(rows or [])

    @staticmethod
    def read_csv(path: str | Path) -> list[dict[str, str]]:
        with open(path, newline="") as fh:
            return list(csv.DictReader(fh))


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)
    return v
