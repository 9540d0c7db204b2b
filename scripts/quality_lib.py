"""Shared helpers of the issue-9 quality scripts (realdata_mese.py, phantom_quality.py, ...).

Plain functions, no CycleScan internals beyond the public io/metrics API: run a CLI command and
echo it, read a metrics.json summary, put a clean truth in metric space, format markdown tables,
draw the slice figure.
"""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from cyclescan.data.normalize import foreground_mask  # noqa: E402
from cyclescan.metrics.paired import own_normalize  # noqa: E402

CYCLESCAN = [sys.executable, "-m", "cyclescan.cli.main"]


def run_cli(args: Sequence[str], log: list[str] | None = None) -> None:
    """Run ``cyclescan ARGS`` (same interpreter), print the exact command, raise on failure."""
    shown = "cyclescan " + " ".join(shlex.quote(str(a)) for a in args)
    print(f"$ {shown}", flush=True)
    if log is not None:
        log.append(shown)
    subprocess.run(CYCLESCAN + [str(a) for a in args], check=True, cwd=REPO)


def truth_in_metric_space(clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A noise-free truth volume as ``cyclescan evaluate`` scores against it: (its own-normalized
    [0, 1] volume, its bool foreground mask), both (D, H, W); the normalization's percentiles are
    taken inside that mask (docs/evaluation.md)."""
    clean = np.asarray(clean, dtype=np.float32)
    mask = foreground_mask(clean).astype(bool)
    return (own_normalize(clean, mask=mask) + 1) / 2, mask


def load_summary(path: Path) -> dict[str, Any]:
    """metrics.json written by `cyclescan evaluate` -> its ``summary`` {truth: {method: {metric: {mean,std,n}}}}."""
    return json.loads(Path(path).read_text())["summary"]


def mean(summary: dict[str, Any], truth: str, method: str, metric: str) -> float:
    """Mean over subjects of one score (nan if absent)."""
    try:
        return float(summary[truth][method][metric]["mean"])
    except KeyError:
        return float("nan")


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub markdown table; floats printed with 3 decimals (PSNR/percent callers pre-format)."""
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return "n/a" if not np.isfinite(v) else f"{v:.3f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def slice_figure(panels: Sequence[tuple[str, np.ndarray]], out_png: Path, title: str = "",
                 diff_of: tuple[int, int] | None = None) -> Path:
    """Save a row of 2-D panels (each (H, W) in [0, 1]) as a small PNG, atomically.

    diff_of=(i, j) appends a signed difference panel ``panels[i] - panels[j]`` (range +-0.5).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = list(panels)
    n = len(items) + (1 if diff_of else 0)
    fig, axes = plt.subplots(1, n, figsize=(1.9 * n, 2.2), dpi=80)
    for ax, (name, img) in zip(axes, items):
        ax.imshow(np.asarray(img), cmap="gray", vmin=0.0, vmax=1.0)
        ax.set_title(name, fontsize=8)
        ax.axis("off")
    if diff_of:
        i, j = diff_of
        d = np.asarray(items[i][1]) - np.asarray(items[j][1])
        im = axes[-1].imshow(d, cmap="bwr", vmin=-0.5, vmax=0.5)
        axes[-1].set_title(f"{items[i][0]} - {items[j][0]}", fontsize=8)
        axes[-1].axis("off")
        fig.colorbar(im, ax=axes[-1], fraction=0.046, pad=0.02)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_png(fig, out_png)


def save_png(fig: Any, out_png: Path) -> Path:
    """Lay out, render and close a matplotlib figure, then write it atomically to ``out_png``."""
    import matplotlib.pyplot as plt

    from cyclescan.io.atomic import atomic_write_bytes

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out_png, buf.getvalue())
    return out_png


def periodic_peak_ratio(volume: np.ndarray, period: int = 2, axes: Sequence[int] = (1, 2)) -> float:
    """How much a (D, H, W) volume's power spectrum peaks at spatial ``period`` (voxels).

    For each in-plane axis: the mean (over the other axes) power spectrum of the mean-free volume;
    the power at frequency 1/period divided by the median power of the neighbouring frequencies
    (the 7 bins below it). ~1 or below: no peak (smooth roll-off); >> 1: periodic texture such as
    the checkerboard of a stride-2 transposed conv (period 2). Returns the max over ``axes``.
    Hand-written: a 1-D power spectrum is one numpy FFT line; no library ships this ratio.
    """
    v = np.asarray(volume, dtype=np.float64)
    v = v - v.mean()
    ratios = []
    for ax in axes:
        n = v.shape[ax]
        k = n // period
        if n % period or k < 8:
            raise ValueError(f"axis {ax} of length {n} is too short or not a multiple of period {period}")
        p = (np.abs(np.fft.rfft(v, axis=ax)) ** 2).mean(axis=tuple(i for i in range(v.ndim) if i != ax))
        ratios.append(float(p[k] / max(np.median(p[k - 7:k]), 1e-30)))
    return max(ratios)
