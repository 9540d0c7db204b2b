"""Argument helpers shared by subcommands (config loading, checkpoint/device/precision, formatter)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's defaults formatter, minus the defaults that say nothing: ``None`` (required or
    "not given" options), ``False`` (flags) and empty lists (repeatable options)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        d = action.default
        if d is None or d is False or (isinstance(d, list) and not d):
            return action.help or ""
        return super()._get_help_string(action) or ""


HELP_FORMATTER = HelpFormatter


def add_overrides_arg(p: argparse.ArgumentParser, example: str = "train.epochs=3") -> None:
    """``--set KEY=VALUE`` (repeatable) -> ``args.overrides`` (list of str)."""
    p.add_argument(
        "--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
        help=f"override a config key, e.g. --set {example} (repeatable)",
    )


def add_config_args(p: argparse.ArgumentParser) -> None:
    """``--config FILE.yaml`` -> ``args.config`` and ``--set`` -> ``args.overrides``."""
    p.add_argument("--config", metavar="FILE.yaml", default=None, help="YAML config (missing keys take defaults)")
    add_overrides_arg(p)


def add_checkpoint_args(p: argparse.ArgumentParser) -> None:
    """``--checkpoint CKPT`` and ``--direction {a2b,b2a}`` (both required)."""
    p.add_argument("--checkpoint", required=True, metavar="CKPT", help="checkpoint .pt written by `cyclescan train`")
    p.add_argument("--direction", required=True, choices=("a2b", "b2a"), help="a2b uses G_ab (A -> B), b2a uses G_ba")


def add_device_arg(
    p: argparse.ArgumentParser, help: str = "where the network runs", default: str | None = "auto"  # noqa: A002
) -> None:
    """``--device {auto,cpu,cuda}`` -> ``args.device``."""
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=default, help=help)


def add_precision_arg(p: argparse.ArgumentParser, help: str) -> None:  # noqa: A002
    """``--precision {auto,fp32,bf16}`` -> ``args.precision`` (None = the checkpoint's infer.precision)."""
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default=None, help=help)


def add_detail_arg(p: argparse.ArgumentParser) -> None:
    """``--detail-sigma S`` -> ``args.detail_sigma`` (None = the checkpoint's infer.detail_sigma)."""
    p.add_argument("--detail-sigma", type=float, default=None, metavar="S",
                   help="ratio detail transfer width in finest-voxel units (infer/detail.py); 0 = the raw "
                        "generator output; default: infer.detail_sigma of the checkpoint")


def add_subcommand(sub: argparse._SubParsersAction, name: str, *, help: str, description: str) -> argparse.ArgumentParser:  # noqa: A002
    """``sub.add_parser`` with the project's ``HELP_FORMATTER`` (defaults shown in ``--help``)."""
    return sub.add_parser(name, help=help, description=description, formatter_class=HELP_FORMATTER)


def option_overrides(args: argparse.Namespace, keys: dict[str, str]) -> list[str]:
    """``--set``-style ``"key=value"`` strings for the options that were given.

    ``keys`` maps an ``args`` attribute to a config key (e.g. ``{"epochs": "train.epochs"}``);
    options left at None are skipped; list values are written as ``[a, b, c]``.
    """
    out = []
    for attr, key in keys.items():
        value = getattr(args, attr)
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            value = f"[{', '.join(str(v) for v in value)}]"
        out.append(f"{key}={value}")
    return out


def check_out(out: Path, *, folder: bool, what: str = "folder", example: str = "") -> None:
    """--out checked before any work (so minutes of training/measuring are not lost at the write):
    a folder output (``folder``) must not be an existing file; a file output must not be an
    existing folder (``example``: a file name to suggest inside it); the nearest existing parent
    must be a writable folder."""
    from cyclescan.errors import InputError

    if folder and out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is a file, not a {what}")
    if not folder and out.is_dir():
        raise InputError(f"--out {out}: is a folder; give a file name such as {out / example}")
    parent = next((q for q in ((out, *out.parents) if folder else out.parents) if q.exists()), Path("."))
    if not parent.is_dir():
        raise InputError(f"--out {out}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK):
        raise InputError(f"--out {out}: cannot write into {parent} (permission denied)")
