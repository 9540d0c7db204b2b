"""`cyclescan report RUN`: the self-contained HTML report of a training run (+ its evaluations)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cyclescan.cli.common import add_subcommand


def register(sub) -> None:
    p = add_subcommand(
        sub, "report",
        help="write RUN/report/index.html: curves, samples, evaluation tables, config, run facts",
        description="Render a self-contained HTML report of a training run: loss and KL curves, samples "
        "across epochs, the evaluation tables of RUN/metrics.json or RUN/eval/metrics*.json with "
        "histogram overlays, the config and run facts. Images are written beside index.html.",
    )
    p.add_argument("run", metavar="RUN", help="run folder written by `cyclescan train`")
    p.add_argument("--out", default=None, metavar="DIR", help="report folder (default: RUN/report)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cyclescan.report.html import build_report

    index = build_report(args.run, args.out)
    print(index)
    for line in evaluation_notes(Path(args.run)):
        print(line, file=sys.stderr)
    return 0


def evaluation_notes(run: Path) -> list[str]:
    """Say when the report has no evaluation, and name metrics files in RUN it did not read."""
    from cyclescan.report.html import find_metrics

    found = set(find_metrics(run))
    stray = sorted(p for p in run.rglob("metrics*.json") if p not in found and "report" not in p.relative_to(run).parts)
    notes = [f"note: {p} is not in the report: the report reads RUN/metrics.json, RUN/eval/metrics*.json "
             "and RUN/eval/*/metrics.json" for p in stray]
    if not found:
        notes.append(f"note: no evaluation in the report; `cyclescan evaluate ... --out {run / 'eval' / 'metrics_a2b.json'}` adds one")
    return notes
