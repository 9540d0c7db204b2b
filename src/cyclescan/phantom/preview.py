"""preview.png: sagittal slices of one phantom subject in both contrasts and its label map."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cyclescan.io.atomic import atomic_path
from cyclescan.phantom.tissues import TISSUES


def write_preview(path: Path, images: dict[str, np.ndarray], labels: np.ndarray,
                  spacing: tuple[float, float, float], title: str) -> None:
    """Two rows (mid-sagittal slice through the notch, and a slice through a condyle) x
    (CISS, DESS, labels). ``images`` name -> (D, H, W) scanner integers; ``labels`` (D, H, W)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    n = len(TISSUES)
    colors = plt.get_cmap("tab20")(np.arange(20))[:n]
    colors[0] = (0, 0, 0, 1)
    cmap = ListedColormap(colors)
    nd = labels.shape[0]
    # Second row: the slice ~22 mm lateral of the centre (a femoral condyle).
    d_condyle = int(np.clip(round(nd / 2 - 1 + 22.0 / spacing[0]), 0, nd - 1))
    rows = [(nd // 2, "mid-sagittal"), (d_condyle, "condyle")]
    aspect = spacing[1] / spacing[2]
    names = list(images)
    fig, axes = plt.subplots(len(rows), len(names) + 1, figsize=(4 * (len(names) + 1), 4.3 * len(rows) + 1.0),
                             squeeze=False, layout="constrained")
    for r, (d, what) in enumerate(rows):
        for c, name in enumerate(names):
            sl = images[name][d].astype(np.float32)
            ax = axes[r, c]
            ax.imshow(sl, cmap="gray", vmin=0, vmax=float(np.percentile(images[name], 99.5)) or 1.0, aspect=aspect)
            ax.set_title(f"{name.upper()}  {what} (slice {d})", fontsize=10)
        ax = axes[r, -1]
        ax.imshow(labels[d], cmap=cmap, vmin=-0.5, vmax=n - 0.5, aspect=aspect, interpolation="nearest")
        ax.set_title(f"labels  {what}", fontsize=10)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [Patch(color=colors[t.label], label=t.name) for t in TISSUES[1:]]
    fig.legend(handles=handles, loc="outside lower center", ncol=6, fontsize=8, frameon=False)
    fig.suptitle(f"CycleScan knee phantom, {title} (anterior left, superior up)", fontsize=11)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, metadata={"Software": None})
    plt.close(fig)
