"""`cyclescan report RUN`: the self-contained HTML report of a training run (+ its evaluations)."""

from __future__ import annotations

import argparse

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
    return 0
