"""`cyclescan translate`: translate whole scans with a trained checkpoint (sliding windows)."""

from __future__ import annotations

import argparse

from cyclescan.cli.common import (
    add_checkpoint_args,
    add_device_arg,
    add_detail_arg,
    add_precision_arg,
    add_subcommand,
    option_overrides,
)


def register(sub) -> None:
    p = add_subcommand(
        sub, "translate",
        help="translate whole volumes (NIfTI files/folders, DICOM series) with a checkpoint",
        description="Translate whole volumes into the other contrast with a trained checkpoint, by "
        "sliding-window inference with Gaussian blending. Outputs keep the input's shape and affine; "
        "intensities are on the target domain's scanner scale. Existing outputs are skipped.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="NIfTI file, folder of volumes, or DICOM series folder")
    add_checkpoint_args(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--format", dest="fmt", choices=("nifti", "dicom"), default="nifti",
                   help="nifti: one .nii.gz per input; dicom: one new DICOM series folder per input")
    p.add_argument("--echo", type=int, default=None, metavar="N", help="echo (1-based) of multi-echo DICOM / 4D NIfTI inputs")
    p.add_argument("--window", type=int, nargs=3, default=None, metavar=("D", "H", "W"),
                   help="sliding window (slices rows cols); default: infer.window of the checkpoint, else its patch size")
    p.add_argument("--overlap", type=float, default=None, help="window overlap fraction in [0, 0.95]; default: infer.overlap")
    p.add_argument("--batch-size", type=int, default=None, help="windows per forward pass; default: infer.batch_size")
    add_precision_arg(p, "inference precision (auto: bf16 only where bf16 convs are fast); default: infer.precision")
    add_detail_arg(p)
    add_device_arg(p, "where the network runs (auto: cuda if available)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs instead of skipping them")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-file lines")
    p.set_defaults(func=run)


def _infer_overrides(args: argparse.Namespace) -> list[str]:
    return option_overrides(args, {"window": "infer.window", "overlap": "infer.overlap",
                                   "batch_size": "infer.batch_size", "precision": "infer.precision",
                                   "detail_sigma": "infer.detail_sigma"})


def run(args: argparse.Namespace) -> int:
    from cyclescan.infer.engine import translate_files

    results = translate_files(
        args.inputs, args.checkpoint, args.direction, args.out, fmt=args.fmt, echo=args.echo,
        overrides=_infer_overrides(args), overwrite=args.overwrite, device=args.device,
        progress=False if args.quiet else None, log=(lambda _msg: None) if args.quiet else None,
    )
    written = sum(r.status == "written" for r in results)
    skipped = len(results) - written
    if not args.quiet:
        print(f"translated {written} volume(s) into {args.out}" + (f", skipped {skipped} existing" if skipped else ""))
    return 0
