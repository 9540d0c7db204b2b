"""`cyclescan report RUN`: a self-contained HTML report in RUN/report/ (index.html + PNGs beside it).

Sections: run facts (time, steps/s, hardware), evaluation tables (when RUN/metrics.json or
RUN/eval/metrics*.json exist) with histogram overlays and example slices, KL curves with the
original report's numbers, loss curves, samples across epochs, and the config. The page uses no
external resources (inline CSS, relative image paths), so the folder can be zipped and mailed.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import re
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from cyclescan.errors import InputError
from cyclescan.io.atomic import atomic_write_text
from cyclescan.metrics.results import format_table, load_metrics, table_rows, truth_label
from cyclescan.report import figures

TEMPLATE = "index.html"


def find_metrics(run: Path) -> list[Path]:
    """Evaluation documents of a run: RUN/metrics.json, RUN/eval/metrics*.json, RUN/eval/*/metrics.json."""
    found = [run / "metrics.json"] + sorted((run / "eval").glob("metrics*.json")) + sorted((run / "eval").glob("*/metrics.json"))
    return [p for p in dict.fromkeys(found) if p.is_file()]


def read_history(run: Path) -> list[dict[str, str]]:
    import csv

    path = run / "history.csv"
    if not path.is_file():
        return []
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: not a readable history.csv ({exc.__class__.__name__})") from exc
    if rows and "epoch" not in rows[0]:
        raise InputError(f"{path}: not a CycleScan history.csv (no 'epoch' column)")
    return rows


def run_facts(run: Path, rows: list[dict[str, str]]) -> list[tuple[str, str]]:
    """(label, value) pairs: when, how long, how fast, on what."""
    facts: list[tuple[str, str]] = [("Run folder", str(run.resolve()))]
    log = run / "train.log"
    lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
    stamps = [m.group(0) for ln in lines if (m := re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", ln))]
    if stamps:
        facts.append(("Trained", f"{stamps[0]} → {stamps[-1]}"))
    if rows:
        secs = [figures._num(r.get("seconds")) or 0.0 for r in rows]
        total = sum(secs)
        steps = figures._num(rows[-1].get("step"))
        facts.append(("Epochs", rows[-1].get("epoch", "?")))
        if steps:
            facts.append(("Optimizer steps", f"{int(steps):,}"))
        facts.append(("Training time", _duration(total)))
        if steps and total > 0:
            facts.append(("Speed", f"{steps / total:.2f} steps/s ({total / max(len(rows), 1):.1f} s/epoch)"))
        waits = [w for r in rows if (w := figures._num(r.get("data_wait_frac"))) is not None]
        if waits:
            facts.append(("Data wait", f"{100 * float(np.mean(waits)):.1f}% of step time"))
        best = [r for r in rows if str(r.get("best", "")).strip() in ("1", "True", "true")]
        if best:
            score = figures._num(best[-1].get("selection_score"))
            facts.append(("Best epoch", f"{best[-1].get('epoch')} (selection score {score:.4g})" if score is not None
                          else str(best[-1].get("epoch"))))
    for ln in lines:
        for key, label in (("generator ", "Model"), ("device ", "Training device")):
            body = ln[20:] if re.match(r"\d{4}-", ln) else ln
            if body.startswith(key) and label not in dict(facts):
                facts.append((label, body))
    facts.append(("Report machine", _machine()))
    return facts


def build_report(run: str | Path, out_dir: str | Path | None = None) -> Path:
    """Render RUN/report/index.html (figures beside it) and return its path.

    Raises InputError when RUN is not a folder or holds nothing to report.
    """
    run = Path(run)
    if run.exists() and not run.is_dir():
        raise InputError(f"{run}: is a file, not a run folder")
    if not run.is_dir():
        raise InputError(f"{run}: run folder not found")
    out = Path(out_dir) if out_dir is not None else run / "report"
    rows = read_history(run)
    metrics_paths = find_metrics(run)
    if not rows and not metrics_paths:
        hist = run / "history.csv"
        if hist.is_file():
            why = "is empty" if hist.stat().st_size == 0 else "holds no epoch rows (truncated or unreadable)"
            raise InputError(f"{hist}: history.csv {why} and there is no metrics.json: nothing to report")
        raise InputError(f"{run}: nothing to report (no history.csv and no metrics.json)")
    loaded = {path: load_metrics(path) for path in metrics_paths}  # every input checked before any write
    out.mkdir(parents=True, exist_ok=True)
    config_text = (run / "config.yaml").read_text() if (run / "config.yaml").is_file() else ""
    domains = _domains(config_text)
    a2b = [m for m in loaded.values() if m["direction"] == "a2b"]
    if not config_text and a2b:  # no config.yaml: domain names from an a2b evaluation
        domains = (a2b[0]["source_domain"], a2b[0]["target_domain"])

    images: dict[str, str | None] = {
        "kl": _rel(figures.plot_kl(rows, out / "kl.png", domains), out),
        "losses": _rel(figures.plot_losses(rows, out / "losses.png", domains), out),
        "samples": _rel(figures.plot_sample_grid(sorted((run / "samples").glob("epoch_*.png")), out / "samples.png"), out),
    }
    evaluations = []
    for i, path in enumerate(metrics_paths):
        m = loaded[path]
        tag = f"eval{i}_{m['direction']}"
        tables = []
        for truth in m["truths"]:
            headers, body = table_rows(m, truth)
            tables.append({"truth": truth_label(truth), "headers": headers, "rows": body,
                           "best": _best_cells(m, truth, headers)})
        ex_img = None
        ex_name = m.get("examples")
        if isinstance(ex_name, str) and (path.parent / ex_name).is_file():
            with np.load(path.parent / ex_name) as z:
                ex = {k: z[k] for k in z.files}
            ex_img = _rel(figures.plot_examples(ex, out / f"{tag}_examples.png",
                                                f"{m['subjects'][0]['name']}: middle slice, metric space"), out)
        evaluations.append({
            "title": f"{m['source_domain']} → {m['target_domain']} ({m['direction']})",
            "source": str(path), "n": len(m["subjects"]), "epoch": m.get("epoch"),
            "checkpoint": m.get("checkpoint"), "tables": tables, "text": format_table(m),
            "detail_sigma": (m.get("inputs") or {}).get("detail_sigma"),
            "bias_correction": (m.get("inputs") or {}).get("bias_correction"),
            "histogram": _rel(figures.plot_histograms(m, out / f"{tag}_hist.png"), out),
            "examples": ex_img, "metric_space": m.get("metric_space", ""),
            "subjects": _subject_rows(m),
        })
    env = jinja2.Environment(loader=jinja2.PackageLoader("cyclescan.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html"]))
    html = env.get_template(TEMPLATE).render(
        title=f"CycleScan report: {run.resolve().name}", generated=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        facts=run_facts(run, rows), images=images, evaluations=evaluations, config=config_text,
        domains=domains, report_kl=figures.REPORT_KL,
    )
    index = out / "index.html"
    atomic_write_text(index, html)
    return index


# ---------------------------------------------------------------------------------------------


def _best_cells(m: dict[str, Any], truth: str, headers: list[str]) -> list[str]:
    """The method with the best mean per column (for bold cells): higher PSNR/SSIM/NCC, lower rest."""
    summary = m["summary"].get(truth, {})
    keys = {"KL": ("kl", -1), "PSNR dB": ("psnr", 1), "SSIM": ("ssim", 1), "MAE": ("mae", -1), "NCC": ("ncc", 1)}
    best = []
    for h in headers[1:]:
        if h not in keys:
            best.append("")
            continue
        key, sign = keys[h]
        vals = {meth: summary.get(meth, {}).get(key, {}).get("mean") for meth in m["methods"]}
        vals = {k: v for k, v in vals.items() if v is not None and np.isfinite(v)}
        best.append(max(vals, key=lambda k: sign * vals[k]) if vals else "")
    return best


def _subject_rows(m: dict[str, Any]) -> list[list[str]]:
    truth = m["truths"][0]
    out = []
    for s in m["subjects"]:
        for meth in m["methods"]:
            sc = s["scores"].get(truth, {}).get(meth, {})
            out.append([s["name"], meth, *(_fmt(sc.get(k), f) for k, f in
                                           (("kl", "{:.4f}"), ("psnr", "{:.2f}"), ("ssim", "{:.3f}"),
                                            ("mae", "{:.4f}"), ("ncc", "{:.3f}")))])
    return out


def _fmt(v: Any, f: str) -> str:
    return f.format(v) if isinstance(v, (int, float)) and np.isfinite(v) else "-"


def _domains(config_text: str) -> tuple[str, str]:
    import yaml

    try:
        d = (yaml.safe_load(config_text) or {}).get("domains") or {}
        return str(d.get("a", "a")), str(d.get("b", "b"))
    except yaml.YAMLError:
        return "a", "b"


def _rel(path: Path | None, base: Path) -> str | None:
    return None if path is None else os.path.relpath(path, base)


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}h {s % 3600 // 60:02d}m {s % 60:02d}s" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"


def _machine() -> str:
    try:
        import psutil

        mem = f", {psutil.virtual_memory().total / 2**30:.0f} GiB RAM"
    except ImportError:  # pragma: no cover
        mem = ""
    try:
        torch_v = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        torch_v = "?"
    cpu = platform.processor() or platform.machine()
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}; Python {platform.python_version()}, torch {torch_v}"
