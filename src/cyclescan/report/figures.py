"""Report figures (matplotlib, Agg backend, written atomically as PNG).

Inputs are plain data: history rows (``train/history.py`` CSV: ``epoch``, ``train_<term>``,
``val_<term>``, ``val_kl_a2b``, ...), sample PNG paths, and metrics documents
(``metrics/results.py``). Every function returns the written path, or None when there is nothing
to plot.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cyclescan.io.atomic import atomic_path  # noqa: E402

# Loss panels: title -> (term for direction/domain A, term for B). Colours: A blue, B orange.
LOSS_PANELS = (
    ("Generator adversarial", ("G_adv_ab", "G_adv_ba")),
    ("Cycle L1", ("cycle_a", "cycle_b")),
    ("Identity L1", ("idt_a", "idt_b")),
    ("Histogram prior L1", ("prior_ab", "prior_ba")),
    ("Discriminator", ("D_a", "D_b")),
    ("Totals", ("G_total", "D_total")),
)
# The original report's KL numbers (epoch 10 -> epoch 100), keyed by the *translated-into* domain.
REPORT_KL = {"ciss": ((10, 54.2), (100, 39.1)), "dess": ((10, 13.1), (100, 9.0))}
COLORS = {"a": "#1f77b4", "b": "#ff7f0e", "model": "#d62728", "identity": "#7f7f7f",
          "histmatch": "#2ca02c", "target": "#000000", "clean": "#9467bd"}
DPI = 110


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def column(rows: Sequence[dict[str, Any]], name: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values) of a history column, skipping empty/NaN cells."""
    xs, ys = [], []
    for r in rows:
        v = _num(r.get(name))
        e = _num(r.get("epoch"))
        if v is not None and e is not None:
            xs.append(e)
            ys.append(v)
    return np.asarray(xs), np.asarray(ys)


def plot_losses(rows: Sequence[dict[str, Any]], out: Path, domains: tuple[str, str] = ("a", "b")) -> Path | None:
    """One panel per loss family; train solid, validation dashed; both directions/domains.
    A family that is absent or all zero (a disabled term: identity or prior weight 0) is left out."""
    panels = [(t, terms) for t, terms in LOSS_PANELS
              if any(np.any(column(rows, f"{s}_{term}")[1] != 0) for term in terms for s in ("train", "val"))]
    if not panels:
        return None
    n = len(panels)
    cols = min(3, n)
    nrows = math.ceil(n / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.3 * cols, 3.0 * nrows), squeeze=False)
    for ax, (title, terms) in zip(axes.flat, panels):
        for term, key in zip(terms, ("a", "b")):
            label = _term_label(term, domains)
            for split, style in (("train", "-"), ("val", "--")):
                x, y = column(rows, f"{split}_{term}")
                if len(x):
                    ax.plot(x, y, style, color=COLORS[key], lw=1.6, marker="o" if len(x) < 12 else None,
                            ms=3, label=f"{label} ({split})")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, frameon=False)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, out)


def plot_kl(rows: Sequence[dict[str, Any]], out: Path, domains: tuple[str, str] = ("a", "b")) -> Path | None:
    """Validation KL per direction (log scale) with the original report's numbers as markers."""
    series = [(d, column(rows, f"val_kl_{d}")) for d in ("a2b", "b2a")]
    if not any(len(x) for _, (x, _) in series):
        return None
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    for (direction, (x, y)), key in zip(series, ("b", "a")):
        target = domains[1] if direction == "a2b" else domains[0]
        src = domains[0] if direction == "a2b" else domains[1]
        ax.plot(x, y, "-o", color=COLORS[key], ms=3, lw=1.6, label=f"{src} → {target} (this run, val)")
        ref = REPORT_KL.get(target.lower())
        if ref:
            (e0, v0), (e1, v1) = ref
            ax.plot([e0, e1], [v0, v1], ":", marker="D", ms=6, color=COLORS[key], alpha=0.7,
                    label=f"report, translated {target.upper()}: {v0} → {v1}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("KL(real ‖ translated), nats")
    ax.set_title("Histogram KL divergence (lower is better)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, frameon=False, loc="best")
    fig.tight_layout()
    return _save(fig, out)


def plot_sample_grid(sample_pngs: Sequence[Path], out: Path, max_epochs: int = 4) -> Path | None:
    """Up to ``max_epochs`` epoch sample images (first, evenly spaced, last) side by side, labelled.

    Portrait/square samples go in one row (epochs left to right); wide ones are stacked.
    """
    pngs = sorted(Path(p) for p in sample_pngs)
    if not pngs:
        return None
    if len(pngs) > max_epochs:
        idx = np.unique(np.linspace(0, len(pngs) - 1, max_epochs).round().astype(int))
        pngs = [pngs[i] for i in idx]
    images = [plt.imread(str(p)) for p in pngs]
    h, w = images[0].shape[:2]
    n = len(images)
    wide = w > 1.5 * h
    rows, cols = (n, 1) if wide else (1, n)
    panel_w = 11.0 / cols
    fig, axes = plt.subplots(rows, cols, figsize=(11.0, rows * panel_w * h / w + 0.35 * rows), squeeze=False)
    for ax, im in zip(axes.flat, images):
        ax.imshow(im, interpolation="lanczos")  # each sample PNG carries its own "epoch N" title
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, out)


def plot_histograms(metrics: dict[str, Any], out: Path) -> Path | None:
    """Intensity histograms in model space: real target (and clean truth) vs model vs baselines."""
    h = metrics.get("histograms") or {}
    curves = [k for k in ("target", "clean", "model", "identity", "histmatch") if h.get(k)]
    if "target" not in curves:
        return None
    lo, hi = h.get("range", [-1.0, 1.0])
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    for k in curves:
        p = np.asarray(h[k], dtype=float)
        x = np.linspace(lo, hi, p.size + 1)
        x = 0.5 * (x[1:] + x[:-1])
        ls = "-" if k in ("target", "clean", "model") else "--"
        lw = 2.2 if k in ("target", "model") else 1.4
        ax.plot(x, _smooth(p), ls, lw=lw, color=COLORS[k], label=_curve_label(k, metrics))
    ax.set_yscale("log")
    ax.set_ylim(bottom=1e-5)
    ax.set_xlabel("intensity (model space, [-1, 1])")
    ax.set_ylabel("fraction of voxels")
    ax.set_title(f"{metrics['source_domain']} → {metrics['target_domain']}: histograms, mean over "
                 f"{len(metrics.get('subjects', []))} test subjects", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return _save(fig, out)


def plot_examples(examples: dict[str, np.ndarray], out: Path, title: str = "") -> Path | None:
    """Mid-slices: source, model, histmatch, truth, |model - truth| (metric space [0, 1])."""
    keys = [k for k in ("source", "model", "histmatch", "truth") if k in examples]
    if "model" not in keys or "truth" not in keys:
        return None
    panels = [(k, np.asarray(examples[k])) for k in keys]
    panels.append(("|model − truth|", np.abs(np.asarray(examples["model"]) - np.asarray(examples["truth"]))))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.9))
    for ax, (name, im) in zip(axes, panels):
        cmap, vmax = ("magma", 0.25) if name.startswith("|") else ("gray", 1.0)
        ax.imshow(im, cmap=cmap, vmin=0.0, vmax=vmax, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, out)


def _curve_label(k: str, metrics: dict[str, Any]) -> str:
    tgt = metrics.get("target_domain", "target")
    kl = metrics.get("summary", {}).get("target", {}).get(k, {}).get("kl", {}).get("mean")
    base = {"target": f"real {tgt} (P)", "clean": f"noise-free {tgt}", "model": "model",
            "identity": "identity", "histmatch": "histogram matching"}[k]
    return f"{base}, KL {kl:.3f}" if kl is not None and k in ("model", "identity", "histmatch") else base


def _term_label(term: str, domains: tuple[str, str]) -> str:
    a, b = domains
    return {"G_adv_ab": f"G {a}→{b}", "G_adv_ba": f"G {b}→{a}", "cycle_a": f"cycle {a}", "cycle_b": f"cycle {b}",
            "idt_a": f"identity {a}", "idt_b": f"identity {b}",
            "prior_ab": f"prior {a}→{b}", "prior_ba": f"prior {b}→{a}", "D_a": f"D {a}", "D_b": f"D {b}",
            "G_total": "G total", "D_total": "D total"}.get(term, term)


def _smooth(p: np.ndarray) -> np.ndarray:
    """A 3-bin moving average so noisy 256-bin histograms stay readable (display only)."""
    return np.convolve(p, np.ones(3) / 3.0, mode="same")


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None
