"""The evaluation result document: summary statistics, metrics.json / metrics.csv, the table.

``metrics.json`` (format ``cyclescan-metrics`` version 1; NaN/inf written as null)::

    {"format": "cyclescan-metrics", "format_version": 1, "created": ISO time,
     "checkpoint": str, "epoch": int, "step": int, "direction": "a2b",
     "source_domain": "ciss", "target_domain": "dess", "inputs": {source, target, clean_target,
     labels, reference}, "metric_space": str, "methods": ["model"(, "model_raw"), "identity", "histmatch"(, "histmatch_detail")],
     "truths": ["clean", "target"],            # the first is the headline truth
     "metrics": ["kl", "psnr", "ssim", "mae", "ncc", ...tissue...],
     "subjects": [{"name": str, "scores": {truth: {method: {metric: float}}}}],
     "summary": {truth: {method: {metric: {"mean": float, "std": float, "n": int}}}},
     "histograms": {"range": [-1, 1], "bins": 256, "<curve>": [256 floats]},
     "examples": file name of the slice examples (.npz) or null, "seconds": float}

``metrics.csv`` is the same numbers in one wide table: one row per (subject, truth, method),
then ``mean`` and ``std`` rows.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from cyclescan.errors import InputError
from cyclescan.io.atomic import atomic_write_text
from cyclescan.io.jsonfile import read_json

FORMAT = "cyclescan-metrics"
FORMAT_VERSION = 1
METHODS = ("model", "identity", "histmatch")
CORE_METRICS = ("kl", "psnr", "ssim", "mae", "ncc")
TISSUE_METRICS = ("cartilage_rel_error", "fluid_rel_error", "acl_rel_error", "acl_norm_rel_error")
# Table columns: key, header, format of the mean, scale.
_TABLE = (
    ("kl", "KL", "{:.4f}", 1.0),
    ("psnr", "PSNR dB", "{:.2f}", 1.0),
    ("ssim", "SSIM", "{:.3f}", 1.0),
    ("mae", "MAE", "{:.4f}", 1.0),
    ("ncc", "NCC", "{:.3f}", 1.0),
)
_TISSUE_TABLE = (
    ("cartilage_rel_error", "cart. err %", "{:+.1f}", 100.0),
    ("fluid_rel_error", "fluid err %", "{:+.1f}", 100.0),
    ("acl_rel_error", "ACL err %", "{:+.1f}", 100.0),
    ("acl_norm_rel_error", "ACL/musc err %", "{:+.1f}", 100.0),
)


def summarize(subjects: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """Mean, (population) std and count over subjects of every finite score, per truth/method/metric."""
    acc: dict[str, dict[str, dict[str, list[float]]]] = {}
    for subj in subjects:
        for truth, by_method in subj["scores"].items():
            for method, scores in by_method.items():
                for metric, value in scores.items():
                    slot = acc.setdefault(truth, {}).setdefault(method, {}).setdefault(metric, [])
                    if value is not None and math.isfinite(value):
                        slot.append(float(value))
    return {
        truth: {
            method: {
                metric: (
                    {"mean": float(np.mean(v)), "std": float(np.std(v)), "n": len(v)}
                    if v else {"mean": float("nan"), "std": float("nan"), "n": 0}
                )
                for metric, v in by_metric.items()
            }
            for method, by_metric in by_method.items()
        }
        for truth, by_method in acc.items()
    }


def to_json_text(result: dict[str, Any]) -> str:
    """Strict JSON (NaN and inf become null)."""
    return json.dumps(_jsonable(result), indent=1, allow_nan=False) + "\n"


def to_csv_text(result: dict[str, Any]) -> str:
    """The wide CSV: subject, truth, method, then one column per metric."""
    metrics = list(result["metrics"])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["subject", "truth", "method", *metrics])
    for subj in result["subjects"]:
        for truth, by_method in subj["scores"].items():
            for method, scores in by_method.items():
                w.writerow([subj["name"], truth, method, *(_cell(scores.get(m)) for m in metrics)])
    for stat in ("mean", "std"):
        for truth, by_method in result["summary"].items():
            for method, by_metric in by_method.items():
                w.writerow([stat, truth, method, *(_cell(by_metric.get(m, {}).get(stat)) for m in metrics)])
    return buf.getvalue()


def write_metrics(result: dict[str, Any], json_path: str | Path) -> tuple[Path, Path]:
    """Write ``json_path`` and the CSV beside it (same stem, ``.csv``), each atomically."""
    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    csv_path = json_path.with_suffix(".csv")
    atomic_write_text(csv_path, to_csv_text(result))
    atomic_write_text(json_path, to_json_text(result))
    return json_path, csv_path


def load_metrics(path: str | Path) -> dict[str, Any]:
    """Read a metrics.json written by :func:`write_metrics` (InputError if it is not one)."""
    p = Path(path)
    data = read_json(p, "metrics")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"{p}: not a CycleScan metrics.json (format is not {FORMAT!r})")
    if data.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{p}: metrics format version {data.get('format_version')} is not supported")
    return data


def format_table(result: dict[str, Any]) -> str:
    """A compact plain-text table: methods x metrics (mean +- std) for each truth."""
    lines = []
    n = len(result["subjects"])
    head = f"{result['direction']}: {result['source_domain']} -> {result['target_domain']} ({n} subject{'s' * (n != 1)})"
    lines.append(head)
    for i, truth in enumerate(result["truths"]):
        by_method = result["summary"].get(truth, {})
        # Tissue errors only for the headline truth: keeps the table narrow.
        cols = [c for c in _TABLE + (_TISSUE_TABLE if i == 0 else ()) if any(c[0] in m for m in by_method.values())]
        rows = [["vs " + truth_label(truth), *(c[1] for c in cols)]]
        for method in result["methods"]:
            stats = by_method.get(method, {})
            rows.append([method, *(_mean_std(stats.get(c[0]), c[2], c[3]) for c in cols)])
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            lines.append("  " + "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)))
    return "\n".join(lines)


def truth_label(truth: str) -> str:
    """Human name of a truth key ('clean' -> 'noise-free truth', 'target' -> 'target')."""
    return {"clean": "noise-free truth", "target": "target"}.get(truth, truth)


def table_rows(result: dict[str, Any], truth: str) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of the summary for one truth, for HTML rendering (mean +- std strings)."""
    by_method = result["summary"].get(truth, {})
    cols = [c for c in _TABLE + _TISSUE_TABLE if any(c[0] in m for m in by_method.values())]
    rows = [[m, *(_mean_std(by_method.get(m, {}).get(c[0]), c[2], c[3]) for c in cols)] for m in result["methods"]]
    return ["method", *(c[1] for c in cols)], rows


def _mean_std(stat: dict | None, fmt: str, scale: float) -> str:
    if not stat or stat.get("mean") is None or not math.isfinite(stat["mean"]):
        return "-"
    mean = fmt.format(stat["mean"] * scale)
    std = stat.get("std")
    if stat.get("n", 0) > 1 and std is not None and math.isfinite(std):
        return f"{mean}±{fmt.replace('+', '').format(std * scale)}"
    return mean


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    return repr(float(v))


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, Path):
        return str(x)
    return x


def finite(values: Iterable[float | None]) -> list[float]:
    """The finite floats of ``values`` (helper for plotting / summaries)."""
    return [float(v) for v in values if v is not None and math.isfinite(v)]
