"""`cyclescan evaluate`: score a checkpoint on paired test volumes beside identity and histogram matching."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cyclescan.cli.common import (add_checkpoint_args, add_detail_arg, add_device_arg, add_precision_arg, add_subcommand,
                                  check_out)


def register(sub) -> None:
    p = add_subcommand(
        sub, "evaluate",
        help="score a checkpoint on paired test volumes beside identity and histogram-matching baselines",
        description="Translate --source with the checkpoint and compare with --target volumes of the same "
        "file names: the report's histogram KL, PSNR, 3D SSIM, MAE and NCC (foreground, [0,1] metric space), "
        "per-tissue signal errors with --labels, for the model, the identity baseline and histogram matching "
        "to the target domain's training histogram (and, when the model gets the ratio detail transfer, "
        "the generator's output without it, model_raw, and histogram matching through the same transfer, "
        "histmatch_detail). Writes metrics.json and "
        "metrics.csv; prints a table.",
    )
    add_checkpoint_args(p)
    p.add_argument("--source", required=True, metavar="DIR", help="source-domain test volumes (NIfTI / DICOM series)")
    p.add_argument("--target", required=True, metavar="DIR", help="target-domain volumes paired by file name")
    p.add_argument("--labels", default=None, metavar="DIR", help="label maps paired by file name (per-tissue errors)")
    p.add_argument("--label-map", default=None, metavar="FILE.json",
                   help="label name -> value JSON (or a phantom.json); none = the phantom's labels")
    p.add_argument("--clean-target", default=None, metavar="DIR",
                   help="noise-free target volumes (phantom test/clean/<domain>): the headline truth")
    p.add_argument("--reference", default=None, metavar="DIR",
                   help="training volumes of the target domain for histogram matching; none = the checkpoint's quantiles")
    p.add_argument("--source-echo", type=int, default=None, metavar="N",
                   help="echo (1-based) of multi-echo DICOM / 4D NIfTI sources")
    p.add_argument("--target-echo", type=int, default=None, metavar="N",
                   help="echo of the targets (e.g. --source-echo 1 --target-echo 8 on one MESE series)")
    p.add_argument("--out", required=True, metavar="metrics.json", help="output JSON; the CSV is written beside it")
    p.add_argument("--save-translated", default=None, metavar="DIR", help="also write the model's translations (NIfTI) here")
    add_precision_arg(p, "inference precision; none = the checkpoint's infer.precision")
    add_detail_arg(p)
    add_device_arg(p)
    p.add_argument("--quiet", action="store_true", help="print only the table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cyclescan.metrics.evaluate import EvalInputs, evaluate, save_examples
    from cyclescan.metrics.results import format_table, write_metrics
    from cyclescan.metrics.tissue import load_label_map

    opt = lambda v: Path(v) if v else None  # noqa: E731
    inputs = EvalInputs(
        checkpoint=Path(args.checkpoint), direction=args.direction, source=Path(args.source),
        target=Path(args.target), labels=opt(args.labels), clean_target=opt(args.clean_target),
        reference=opt(args.reference), label_map=load_label_map(args.label_map) if args.label_map else None,
        save_translated=opt(args.save_translated), device=args.device, precision=args.precision,
        source_echo=args.source_echo, target_echo=args.target_echo, detail_sigma=args.detail_sigma,
    )
    out = Path(args.out)
    check_out(out, folder=False, example="metrics_a2b.json")
    log = None if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    result = evaluate(inputs, progress=log, warn=lambda msg: print(f"warning: {msg}", file=sys.stderr, flush=True))
    save_examples(result, out)
    json_path, csv_path = write_metrics(result, out)
    print(format_table(result))
    if not args.quiet:
        print(f"wrote {json_path} and {csv_path}")
    return 0

