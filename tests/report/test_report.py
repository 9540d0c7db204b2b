"""`cyclescan report RUN`: the HTML renders, references only existing images, and shows the numbers."""

from __future__ import annotations

import html.parser
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cyclescan.cli.main import main
from cyclescan.report.html import find_metrics


class _Refs(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a["src"])
        for key in ("src", "href"):
            v = a.get(key) or ""
            if v.startswith(("http:", "https:", "//")):
                self.external.append(v)


def test_report_images_exist_and_page_is_self_contained(built_report: Path):
    index = built_report
    assert index.parent.name == "report" and index.name == "index.html"
    page = index.read_text()
    refs = _Refs()
    refs.feed(page)
    assert len(refs.imgs) == 6  # kl, losses, samples, 2 x histogram, 1 example
    for src in refs.imgs:
        assert (index.parent / src).is_file(), src
        assert (index.parent / src).stat().st_size > 1000
    assert refs.external == []
    # The evaluation table, the report's KL numbers, config and run facts are on the page.
    for text in ("ciss → dess", "dess → ciss", "histmatch", "noise-free truth", "54.2", "9.0",
                 "lambda_cycle", "steps/s", "Best epoch", "Report machine"):
        assert text in page, text
    assert '<td class="best">' in page
    assert page.count("ratio detail transfer σ 1.25") == 1  # a2b records it; b2a (older file) has none
    assert page.count("N4 bias correction (model and histogram matching)") == 1  # the same: only a2b
    assert page.count('<tr class="histmatch_detail"><td>histmatch_detail</td>') == 2  # a2b: clean + target


def test_cli_on_a_run_without_evaluation_or_samples(fake_run: Path, capsys):
    assert [p.name for p in find_metrics(fake_run)] == ["metrics_a2b.json", "metrics_b2a.json"]
    shutil.rmtree(fake_run / "eval")
    shutil.rmtree(fake_run / "samples")
    assert find_metrics(fake_run) == []
    assert main(["report", str(fake_run), "--out", str(fake_run / "r2")]) == 0
    cap = capsys.readouterr()
    assert cap.out.strip().endswith("index.html")
    assert "no evaluation in the report" in cap.err
    page = (fake_run / "r2" / "index.html").read_text()
    assert "Evaluation on the paired test set" not in page
    assert "No samples" in page


def test_cli_names_a_metrics_file_the_report_does_not_read(fake_run: Path, capsys):
    (fake_run / "eval_a2b").mkdir()
    shutil.copy(fake_run / "eval" / "metrics_a2b.json", fake_run / "eval_a2b" / "metrics.json")
    assert main(["report", str(fake_run), "--out", str(fake_run / "r3")]) == 0
    err = capsys.readouterr().err
    assert f"{fake_run / 'eval_a2b' / 'metrics.json'} is not in the report" in err
    assert "no evaluation in the report" not in err  # RUN/eval/ still holds two


def test_report_errors(tmp_path: Path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "nothing to report" in capsys.readouterr().err


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(_chromium() is None, reason="chromium not installed")
def test_report_renders_in_headless_chromium(built_report: Path, tmp_path: Path):
    import matplotlib.pyplot as plt

    index = built_report
    shot = tmp_path / "shot.png"
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1280,2000",
           index.resolve().as_uri()]
    subprocess.run(cmd, check=False, capture_output=True, timeout=120)
    assert shot.is_file(), "chromium wrote no screenshot"
    img = plt.imread(str(shot))
    assert img.shape[:2] == (2000, 1280)
    # Not a blank page: the dark header band and a spread of grey levels from text and figures.
    assert img[:40, :, :3].mean() < 0.3
    assert np.std(img[..., :3]) > 0.1
