"""Argument helpers shared by subcommands (config loading, formatter)."""

from __future__ import annotations

import argparse

HELP_FORMATTER = argparse.ArgumentDefaultsHelpFormatter


def add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE.yaml", default=None, help="YAML config (missing keys take defaults)")
    p.add_argument(
        "--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
        help="override a config key, e.g. --set train.epochs=3 (repeatable)",
    )
