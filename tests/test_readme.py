"""The README cannot rot: every command it shows is run (quick start) or parsed (templates)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path


from cyclescan.cli.main import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _block_after(heading: str) -> list[str]:
    section = README.split(heading, 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [ln.strip() for ln in block.splitlines() if ln.strip() and not ln.startswith("#")]


def test_two_commands_are_make_targets():
    lines = _block_after("## Two commands")
    assert [ln.split("#")[0].strip() for ln in lines] == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo:", "test:", "test-slow:"):
        assert re.search(rf"^{target}", makefile, re.M), target
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_quick_start_runs_as_written(tmp_path, monkeypatch, capsys):
    lines = _block_after("## Quick start")
    assert len(lines) >= 5 and all(ln.startswith("cyclescan ") for ln in lines)
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    monkeypatch.chdir(tmp_path)
    for line in lines:
        rc = main(shlex.split(line)[1:])
        err = capsys.readouterr().err
        assert rc == 0, f"{line}\n{err[-2000:]}"
    # What the tour promises exists.
    assert (tmp_path / "runs/tour/checkpoints/last.pt").is_file()
    assert len(list((tmp_path / "runs/tour/dess_from_ciss").glob("*.nii.gz"))) == 2
    assert (tmp_path / "runs/tour/eval/metrics_a2b.json").is_file()
    html = (tmp_path / "runs/tour/report/index.html").read_text()
    assert "Evaluation on the paired test set" in html and "histmatch" in html  # the tour's evaluation is in it


def test_inline_command_templates_parse():
    cmds = re.findall(r"`(cyclescan [^`]+)`", README.replace("\n", " "))
    assert cmds
    parser = build_parser()
    for cmd in cmds:
        argv = shlex.split(re.sub(r"\s+", " ", cmd))[1:]
        if argv[-1] == "...":
            argv = argv[:-1]
        argv = [a for a in argv if a != "..."]
        parser.parse_args(argv)  # SystemExit (a failure) if the template no longer parses
