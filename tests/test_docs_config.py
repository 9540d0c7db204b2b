"""docs/training.md lists every config key with its code default and help (cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path

from cyclescan.config import choices, describe, load_config, markdown_table

DOC = Path(__file__).resolve().parents[1] / "docs" / "training.md"


def test_training_md_carries_the_generated_key_table():
    text = DOC.read_text()
    table = re.search(r"<!-- config-table:start -->\n(.*?)\n<!-- config-table:end -->", text, re.S).group(1)
    assert table == markdown_table(), "regenerate: python -m cyclescan.config"
    keys = [k for k, _, _ in describe()]
    assert len(keys) == len(set(keys)) > 50
    for k in keys:
        assert f"| `{k}` |" in table


def test_choices_are_the_literal_values_the_loader_accepts(tmp_path):
    allowed = choices()
    assert allowed["loss.gan_mode"] == ("lsgan", "bce", "hinge")
    assert allowed["data.cache"] == ("memory", "disk", "none")
    for key, values in allowed.items():
        for v in values:
            cfg = load_config(None, [f"{key}={v}"])
            section, name = key.split(".")
            assert getattr(getattr(cfg, section), name) == v
