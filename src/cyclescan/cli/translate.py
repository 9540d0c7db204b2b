"""`cyclescan translate`: translate whole scans with a trained checkpoint (sliding windows)."""

from __future__ import annotations

import argparse

from cyclescan.cli.common import HELP_FORMATTER


def register(sub) -> None:
    p = sub.add_parser(
        "translate",
        help="translate whole volumes (NIfTI files/folders, DICOM series) with a checkpoint",
        description="Translate whole volumes into the other contrast with a trained checkpoint, by "
        "sliding-window inference with Gaussian blending. Outputs keep the input's shape and affine; "
        "intensities are on the target domain's scanner scale. Existing outputs are skipped.",
        formatter_class=HELP_FORMATTER,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="NIfTI file, folder of volumes, or DICOM series folder")
    p.add_argument("--checkpoint", required=True, metavar="CKPT", help="checkpoint .pt written by `cyclescan train`")
    p.add_argument("--direction", required=True, choices=("a2b", "b2a"), help="a2b uses G_ab (A -> B), b2a uses G_ba")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--format", dest="fmt", choices=("nifti", "dicom"), default="nifti",
                   help="nifti: one .nii.gz per input; dicom: one new DICOM series folder per input")
    p.add_argument("--echo", type=int, default=None, metavar="N", help="echo (1-based) of multi-echo DICOM / 4D NIfTI inputs")
    p.add_argument("--window", type=int, nargs=3, default=None, metavar=("D", "H", "W"),
                   help="sliding window (slices rows cols); default: infer.window of the checkpoint, else its patch size")
    p.add_argument("--overlap", type=float, default=None, help="window overlap fraction in [0, 0.95]; default: infer.overlap")
    p.add_argument("--batch-size", type=int, default=None, help="windows per forward pass; default: infer.batch_size")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default=None, help="inference precision (auto: bf16 only where bf16 convs are fast); default: infer.precision")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where the network runs (auto: cuda if available)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs instead of skipping them")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-file lines")
    p.set_defaults(func=run)


def _infer_overrides(args: argparse.Namespace) -> list[str]:
    sets = []
    if args.window is not None:
        sets.append(f"infer.window=[{', '.join(str(v) for v in args.window)}]")
    if args.overlap is not None:
        sets.append(f"infer.overlap={args.overlap}")
    if args.batch_size is not None:
        sets.append(f"infer.batch_size={args.batch_size}")
    if args.precision is not None:
        sets.append(f"infer.precision={args.precision}")
    return sets


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
