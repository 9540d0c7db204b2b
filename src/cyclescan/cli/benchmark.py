"""`cyclescan benchmark`: training step, inference and data-wait timings in one JSON + table."""

from __future__ import annotations

import argparse

from cyclescan.cli.common import HELP_FORMATTER, check_out


def register(sub) -> None:
    p = sub.add_parser(
        "benchmark", help="measure training step, translation and data-pipeline speed on this machine",
        description="Time one CycleGAN training step (naive fp32 vs CycleScan's tuned path, vs a measured "
                    "matmul peak), an end-to-end translation (sliding fp32/bf16, whole volume) and the data-wait "
                    "fraction; print a table and write JSON. See docs/performance.md.",
        formatter_class=HELP_FORMATTER,
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes (< 60 s), for CI and trend tracking")
    p.add_argument("--out", default="bench.json", metavar="FILE.json", help="where the JSON result goes")
    p.add_argument("--patch", type=int, nargs=3, metavar=("D", "H", "W"), default=None,
                   help="training patch (default 20 256 256; quick 8 32 32)")
    p.add_argument("--volume", type=int, nargs=3, metavar=("D", "H", "W"), default=None,
                   help="translated volume size (default 100 512 512; quick 16 64 64)")
    p.add_argument("--gen-base", type=int, default=None, metavar="C",
                   help="generator base channels (default 32 = the default model; quick 4)")
    p.add_argument("--disc-base", type=int, default=None, metavar="C",
                   help="discriminator base channels (default 64; quick 8)")
    p.add_argument("--repeats", type=int, default=None, help="timed training steps per variant (default 3)")
    p.add_argument("--budget-s", type=float, default=None,
                   help="time budget per measurement; longer ones stop early / extrapolate (default 900; quick 5)")
    p.add_argument("--only", choices=["train", "infer", "data"], action="append", default=None,
                   help="run only this section (repeatable)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from cyclescan.errors import InputError
    from cyclescan.io.atomic import atomic_write_text
    from cyclescan.perf.bench import SECTIONS, BenchOptions, format_table, run_benchmark

    from pathlib import Path

    out_dir = Path(args.out).resolve().parent
    if not out_dir.is_dir():
        raise InputError(f"--out {args.out}: folder {out_dir} does not exist")
    check_out(Path(args.out), folder=False, example="bench.json")
    if args.budget_s is not None and not args.budget_s > 0:
        raise InputError(f"--budget-s {args.budget_s}: must be > 0 seconds")
    kw: dict = {}
    if args.patch:
        kw["patch"] = list(args.patch)
    if args.volume:
        kw["infer_shape"] = list(args.volume)
    for name in ("gen_base", "disc_base"):
        v = getattr(args, name)
        if v is not None:
            if v < 1:
                raise InputError(f"--{name.replace('_', '-')} {v}: must be at least 1")
            kw[name] = v
    if args.repeats is not None:
        if args.repeats < 1:
            raise InputError(f"--repeats {args.repeats}: must be at least 1")
        kw["repeats"] = args.repeats
    if args.budget_s is not None:
        kw["budget_s"] = args.budget_s
    kw["sections"] = tuple(args.only) if args.only else SECTIONS
    for name in ("patch", "infer_shape"):
        if name in kw and min(kw[name]) < 1:
            raise InputError(f"--{name.replace('infer_shape', 'volume')} {kw[name]}: sizes must be positive")
    opts = BenchOptions.small(**kw) if args.quick else BenchOptions.full(**kw)
    result = run_benchmark(opts, log=lambda s: print(f"benchmark: {s}", flush=True))
    atomic_write_text(args.out, json.dumps(result, indent=2))
    print(format_table(result))
    print(f"wrote {args.out}")
    return 0
