"""`cyclescan phantom OUT`: generate the synthetic knee data set (CISS + DESS, paired test set)."""

from __future__ import annotations

from cyclescan.cli.common import add_subcommand


def register(sub) -> None:
    p = add_subcommand(
        sub, "phantom", help="generate a synthetic knee data set (CISS/DESS, physics-based)",
        description="Generate a reproducible physics-based knee phantom: unpaired train/val volumes per "
                    "contrast, a paired test set with labels and noise-free truth, phantom.json, preview.png.",
    )
    p.add_argument("out", metavar="OUT", help="output folder (created; must be empty unless --overwrite)")
    p.add_argument("--train-subjects", type=int, default=8, metavar="N", help="training subjects per contrast")
    p.add_argument("--val-subjects", type=int, default=2, metavar="N", help="validation subjects per contrast")
    p.add_argument("--test-subjects", type=int, default=4, metavar="N", help="paired test subjects")
    p.add_argument("--shape", type=int, nargs=3, default=[32, 128, 128], metavar=("D", "H", "W"),
                   help="voxels: sagittal slices (L-R), rows (S-I), cols (A-P)")
    p.add_argument("--fov", type=float, nargs=3, default=[130.0, 150.0, 150.0], metavar=("LR", "SI", "AP"),
                   help="field of view in mm; spacing = fov / shape")
    p.add_argument("--snr", type=float, default=25.0, help="mean foreground signal / noise sigma (Rician)")
    p.add_argument("--bias", type=float, default=0.3, help="coil bias field strength (0 = off, 0.3 = ~+-30%%)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed => identical files)")
    p.add_argument("--no-preview", action="store_true", help="do not write preview.png")
    p.add_argument("--overwrite", action="store_true", help="replace a previous phantom in OUT")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    import time

    from cyclescan.phantom import generate_dataset

    t0 = time.perf_counter()
    out = generate_dataset(
        args.out, train_subjects=args.train_subjects, val_subjects=args.val_subjects,
        test_subjects=args.test_subjects, shape=tuple(args.shape), fov=tuple(args.fov), snr=args.snr,
        bias_strength=args.bias, seed=args.seed, overwrite=args.overwrite, preview=not args.no_preview,
        progress=not args.quiet,
    )
    if not args.quiet:
        print(f"phantom written to {out} in {time.perf_counter() - t0:.1f} s (see {out / 'phantom.json'})")
    return 0
