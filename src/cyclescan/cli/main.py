"""`cyclescan` entry point: dispatch to subcommands, turn user errors into one stderr line.

Exit codes: 0 success, 2 usage/input error (CycleScanError) or an OS refusal (permission denied, disk
full: one line naming the file), 1 internal error or training stop.
Set CYCLESCAN_DEBUG=1 to see the traceback of an internal error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from cyclescan import __version__
from cyclescan.cli.common import HELP_FORMATTER
from cyclescan.errors import CycleScanError

# Subcommand modules in --help order. Each defines register(subparsers).
SUBCOMMANDS = ("phantom", "train", "translate", "evaluate", "report", "demo", "benchmark")
# Heavy subcommands: OpenMP defaults + re-exec with jemalloc preloaded (perf/runtime.py).
TUNED_COMMANDS = ("train", "translate", "evaluate", "demo", "benchmark")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cyclescan",
        description="Unpaired 3D CycleGAN contrast translation for MRI volumes (knee CISS <-> DESS).",
        formatter_class=HELP_FORMATTER,
    )
    parser.add_argument("--version", action="version", version=f"cyclescan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"cyclescan.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in TUNED_COMMANDS:
        from cyclescan.perf import runtime

        runtime.prepare_process_env()
        if argv is None:  # a real command line (never exec from a library call / test)
            runtime.maybe_reexec_with_jemalloc()
    try:
        rc = args.func(args)
    except CycleScanError as exc:
        msg = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())  # always one line
        print(f"cyclescan {args.command}: error: {msg}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # the environment refused a read or write: permissions, disk full, read-only
        if os.environ.get("CYCLESCAN_DEBUG"):
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        why = {FileExistsError: "exists and is not a folder (a folder is needed here)",
               NotADirectoryError: "a part of this path is a file, not a folder"}.get(type(exc), exc.strerror or exc)
        print(f"cyclescan {args.command}: error: {where}{why}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cyclescan {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, no traceback
        if os.environ.get("CYCLESCAN_DEBUG"):
            raise
        msg = str(exc).splitlines()[0] if str(exc) else ""
        print(f"cyclescan {args.command}: internal error: {exc.__class__.__name__}: {msg}", file=sys.stderr)
        return 1
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
