"""`cyclescan train`: train an unpaired 3D CycleGAN on two folders of volumes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cyclescan.cli.common import add_config_args, add_device_arg, add_subcommand, check_out, option_overrides
from cyclescan.errors import InputError


def register(sub) -> None:
    p = add_subcommand(
        sub, "train",
        help="train a 3D CycleGAN (A <-> B) on two folders of volumes",
        description="Train an unpaired 3D CycleGAN. Writes RUN/config.yaml, RUN/checkpoints/{last,best,"
        "epoch_NNNN}.pt, RUN/history.csv, RUN/tensorboard/, RUN/samples/ and RUN/train.log. "
        "Multi-process: torchrun --nproc_per_node N -m cyclescan.cli.main train ...",
    )
    p.add_argument("--a", metavar="DIR", default=None, help="training volumes of domain A (NIfTI files / DICOM series)")
    p.add_argument("--b", metavar="DIR", default=None, help="training volumes of domain B")
    p.add_argument("--val-a", metavar="DIR", default=None, help="validation volumes of domain A (optional)")
    p.add_argument("--val-b", metavar="DIR", default=None, help="validation volumes of domain B (optional)")
    p.add_argument("--phantom", metavar="DIR", default=None,
                   help="phantom layout (cyclescan phantom): fills --a/--b/--val-a/--val-b from DIR/<domain>/{train,val}")
    p.add_argument("--out", metavar="RUN", required=True, help="run directory to create (or resume)")
    add_config_args(p)
    p.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    p.add_argument("--seed", type=int, default=None, help="override train.seed")
    add_device_arg(p, "override train.device", default=None)
    p.add_argument("--resume", action="store_true", help="continue from RUN/checkpoints/last.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def resolve_dirs(args: argparse.Namespace, domains: tuple[str, str]) -> tuple[Path, Path, Path | None, Path | None]:
    """(a, b, val_a, val_b) from --a/--b/--val-* or the --phantom layout; InputError when incomplete."""
    a, b, va, vb = args.a, args.b, args.val_a, args.val_b
    if args.phantom:
        root = Path(args.phantom)
        if not root.is_dir():
            raise InputError(f"{root}: phantom directory not found")
        da, db = domains
        a = a or root / da / "train"
        b = b or root / db / "train"
        va = va or (root / da / "val" if (root / da / "val").is_dir() else None)
        vb = vb or (root / db / "val" if (root / db / "val").is_dir() else None)
    if a is None or b is None:
        raise InputError("train needs --a DIR and --b DIR (or --phantom DIR)")
    if (va is None) != (vb is None):
        raise InputError("give both --val-a and --val-b, or neither")
    for name, d in (("--a", a), ("--b", b), ("--val-a", va), ("--val-b", vb)):
        if d is not None and not Path(d).exists():
            if args.phantom and name in ("--a", "--b"):
                raise InputError(f"{args.phantom}: not a phantom folder for domains {domains[0]}/{domains[1]} "
                                 f"(no {d}); make one with `cyclescan phantom` or set domains.a/b")
            raise InputError(f"{d}: {name} not found")
    if Path(a).resolve() == Path(b).resolve():
        print(f"warning: --a and --b are the same folder ({a}): both domains hold the same volumes, "
              "so there is no contrast to learn", file=sys.stderr)
    return Path(a), Path(b), (Path(va) if va else None), (Path(vb) if vb else None)


def run(args: argparse.Namespace) -> int:
    from cyclescan.config import load_config
    from cyclescan.train.trainer import train

    overrides = list(args.overrides) + option_overrides(
        args, {"epochs": "train.epochs", "seed": "train.seed", "device": "train.device"}
    )
    cfg = load_config(args.config, overrides)
    a, b, va, vb = resolve_dirs(args, (cfg.domains.a, cfg.domains.b))
    check_out(Path(args.out), folder=True, what="run folder")
    best = train(cfg, a, b, args.out, val_a=va, val_b=vb, resume=args.resume, progress=False if args.quiet else None)
    print(f"best checkpoint: {best}")
    return 0
