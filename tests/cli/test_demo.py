"""`cyclescan demo`: config lookup (fast) and the whole pipeline on a tiny phantom (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cyclescan.cli.demo import find_config
from cyclescan.cli.main import main
from cyclescan.errors import ConfigError

TINY = """
domains: {a: ciss, b: dess}
data: {patch_size: [8, 16, 16], patches_per_volume: 1, num_workers: 0}
generator: {base_channels: 4, depth: 2}
discriminator: {base_channels: 4, n_layers: 2}
train: {epochs: 2, precision: fp32, pool_size: 2, num_threads: 1, device: cpu}
infer: {precision: fp32}
"""


def test_find_config_by_name_and_path(tmp_path: Path):
    shipped = find_config("report")  # configs/report.yaml ships with the package
    assert shipped.name == "report.yaml" and shipped.is_file()
    f = tmp_path / "x.yaml"
    f.write_text("train: {epochs: 1}\n")
    assert find_config(str(f)) == f
    with pytest.raises(ConfigError, match="no shipped config"):
        find_config("no_such_config")
    with pytest.raises(ConfigError, match="not found"):
        find_config(str(tmp_path / "missing.yaml"))


@pytest.mark.slow
def test_demo_end_to_end_tiny(tmp_path: Path, capsys):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--config", str(cfg), "--phantom-shape", "16", "32", "32",
            "--train-subjects", "2", "--test-subjects", "2", "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    run = out / "run"
    assert f"report: {run / 'report' / 'index.html'}" in printed
    assert "a2b: ciss -> dess" in printed and "b2a: dess -> ciss" in printed
    for d in ("a2b", "b2a"):
        assert (run / "eval" / f"metrics_{d}.json").is_file() and (run / "eval" / f"metrics_{d}.csv").is_file()
        assert len(list((run / "eval" / f"translated_{d}").glob("*.nii.gz"))) == 2
    page = (run / "report" / "index.html").read_text()
    assert "ciss → dess" in page and "dess → ciss" in page
    # A second call reuses the phantom and the finished run (resume), and only re-evaluates.
    phantom_files = {p: p.stat().st_mtime_ns for p in (out / "phantom").rglob("*") if p.is_file()}
    last = (run / "checkpoints" / "last.pt").read_bytes()
    history = (run / "history.csv").read_text()
    first = {d: json.loads((run / "eval" / f"metrics_{d}.json").read_text()) for d in ("a2b", "b2a")}
    assert main(argv) == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "phantom").rglob("*") if p.is_file()} == phantom_files
    assert (run / "checkpoints" / "last.pt").read_bytes() == last  # no epoch trained again
    assert (run / "history.csv").read_text() == history
    for d in ("a2b", "b2a"):
        again = json.loads((run / "eval" / f"metrics_{d}.json").read_text())
        assert again["epoch"] == first[d]["epoch"] == 2
        assert again["summary"] == first[d]["summary"]  # same model, same volumes: same numbers


def test_bad_counts_and_a_file_as_out_are_refused_before_anything_is_built(tmp_path: Path, capsys):
    from cyclescan.cli.main import main

    out = tmp_path / "dm"
    for opt in ("--train-subjects", "--test-subjects"):
        assert main(["demo", "--out", str(out), opt, "0", "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and opt in err[0]
        assert not out.exists()
    (tmp_path / "afile").write_text("x")
    assert main(["demo", "--out", str(tmp_path / "afile"), "--quiet"]) == 2
    assert "is a file" in capsys.readouterr().err
