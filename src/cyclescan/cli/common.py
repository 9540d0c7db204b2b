"""Argument helpers shared by subcommands (config loading, checkpoint/device/precision, formatter)."""

from __future__ import annotations

import argparse

HELP_FORMATTER = argparse.ArgumentDefaultsHelpFormatter


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
