"""Sample figures of fixed validation volumes: input, translation, cycle reconstruction.

One figure per epoch (``RUN/samples/epoch_NNNN.png`` and TensorBoard): for each direction (a2b,
b2a) three rows, the mid-slices across D, H and W, and three columns: input, translation, cycle
reconstruction. Rows are named by anatomical plane from the canonical orientation
(``data.orientation``; the default RIP makes the D slices sagittal, H axial, W coronal). Volumes
are (D, H, W) arrays in model space [-1, 1], shown on a fixed [-1, 1] grey scale so epochs are
comparable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cyclescan.io.atomic import atomic_path  # noqa: E402

# The plane a slice shows is the one perpendicular to the axis it is taken across.
_PLANE_ACROSS = {"R": "sagittal", "L": "sagittal", "A": "coronal", "P": "coronal", "S": "axial", "I": "axial"}


def plane_names(orientation: str = "RIP") -> tuple[str, str, str]:
    """Anatomical plane of the mid-slices across D, H, W for axis codes ``orientation``
    (e.g. 'RIP' -> ('sagittal', 'axial', 'coronal'); 'LPS' -> ('sagittal', 'coronal', 'axial'))."""
    codes = orientation.upper()
    if len(codes) != 3 or any(c not in _PLANE_ACROSS for c in codes):
        raise ValueError(f"orientation {orientation!r}: need three axis codes from R/L, A/P, S/I")
    return tuple(_PLANE_ACROSS[c] for c in codes)  # type: ignore[return-value]


@dataclass
class SampleTriplet:
    """One direction's volumes, each (D, H, W) float in [-1, 1]."""

    direction: str  # e.g. "ciss -> dess"
    source: np.ndarray
    translated: np.ndarray
    reconstructed: np.ndarray


# Display convention (radiological): superior, else anterior, at the top; the patient's right on
# the image's left, anterior on the left of a sagittal view. Row axis priority: S/I, then A/P.


def display_slice(vol: np.ndarray, across: int, orientation: str = "RIP",
                  spacing: tuple[float, float, float] | None = None) -> np.ndarray:
    """Mid-slice of ``vol`` (D, H, W) across axis ``across`` (0, 1, 2), turned and flipped to the
    radiological display convention for axis codes ``orientation``, each display axis repeated so
    a voxel covers its physical size (thick slices are not squashed). Returns a 2D float array."""
    codes = orientation.upper()
    img = np.take(vol, vol.shape[across] // 2, axis=across)
    axes = [a for a in range(3) if a != across]  # img's (row, col) axes of vol
    if codes[axes[1]] in "SI" or (codes[axes[1]] in "AP" and codes[axes[0]] in "RL"):
        img, axes = img.T, axes[::-1]  # the S/I (else A/P) axis runs down the rows
    # an axis code names where the index *increases* towards, so index 0 lies at the opposite side
    if codes[axes[0]] in "SA":
        img = img[::-1]  # top: superior (index 0 of an I axis) or anterior (of a P axis)
    if codes[axes[1]] in "RA":
        img = img[:, ::-1]  # left: the patient's right (index 0 of an L axis) or anterior (of a P axis)
    sp = spacing or (1.0, 1.0, 1.0)
    fine = min(sp[axes[0]], sp[axes[1]])
    for dim, ax in enumerate(axes):
        rep = max(1, round(sp[ax] / fine))
        if rep > 1:
            img = np.repeat(img, rep, axis=dim)
    return img


def _panel(img: np.ndarray) -> np.ndarray:
    """(rows, cols) slice -> uint8 grey on the fixed [-1, 1] window."""
    return np.clip((img + 1.0) * 127.5, 0, 255).astype(np.uint8)


def sample_mosaic(triplets: list[SampleTriplet], spacing: tuple[float, float, float] | None = None,
                  gap: int = 2, centers: list | None = None, orientation: str = "RIP") -> np.ndarray:
    """(H, W) uint8 mosaic: rows = direction x plane, columns = input, translation, reconstruction.

    Composed in NumPy rather than with one matplotlib Axes per panel (18 Axes take seconds to lay
    out per epoch on this CPU). Panels follow :func:`display_slice` (radiological, to scale).
    """
    rows = []
    for trip in triplets:
        vols = [np.asarray(v, dtype=np.float32) for v in (trip.source, trip.translated, trip.reconstructed)]
        for p in range(3):
            rows.append([_panel(display_slice(v, p, orientation, spacing)) for v in vols])
    height = [max(p.shape[0] for p in r) for r in rows]
    width = [max(r[c].shape[1] for r in rows) for c in range(3)]
    out = np.full((sum(height) + gap * (len(rows) - 1), sum(width) + gap * 2), 255, np.uint8)
    if centers is not None:  # filled with (row centres, column centres) for labels
        centers.append([sum(height[:i]) + gap * i + height[i] / 2 for i in range(len(rows))])
        centers.append([sum(width[:i]) + gap * i + width[i] / 2 for i in range(3)])
    y = 0
    for r, h in zip(rows, height):
        x = 0
        for c, panel in enumerate(r):
            out[y : y + panel.shape[0], x : x + panel.shape[1]] = panel
            x += width[c] + gap
        y += h + gap
    return out


def sample_figure(triplets: list[SampleTriplet], title: str = "", spacing: tuple[float, float, float] | None = None,
                  orientation: str = "RIP"):
    """A matplotlib Figure of :func:`sample_mosaic` with row (plane, from ``orientation``) and column labels."""
    centers: list = []
    mosaic = sample_mosaic(triplets, spacing, centers=centers, orientation=orientation)
    h, w = mosaic.shape
    scale = max(1.0, 300.0 / w)
    fig = plt.figure(figsize=(w * scale / 80 + 1.6, h * scale / 80 + 0.8), dpi=80)
    ax = fig.add_axes((1.2 / (w * scale / 80 + 1.6), 0.1 / (h * scale / 80 + 0.8), 1 - 1.4 / (w * scale / 80 + 1.6),
                       1 - 0.7 / (h * scale / 80 + 0.8)))
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=255, interpolation="nearest", aspect="auto")
    ax.set_xticks(centers[1], ["input", "translation", "cycle reconstruction"], fontsize=8)
    ax.xaxis.tick_top()
    labels = [f"{t.direction}\n{plane}" for t in triplets for plane in plane_names(orientation)]
    ax.set_yticks(centers[0], labels, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9, y=0.995)
    return fig


def figure_to_rgb(fig) -> np.ndarray:
    """Render a Figure to an (H, W, 3) uint8 array (for TensorBoard ``add_image`` with HWC)."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def write_samples(path: str | Path, triplets: list[SampleTriplet], title: str = "",
                  spacing: tuple[float, float, float] | None = None, orientation: str = "RIP") -> np.ndarray:
    """Write the sample PNG atomically to ``path``; return the image as (H, W, 3) uint8."""
    fig = sample_figure(triplets, title=title, spacing=spacing, orientation=orientation)
    try:
        rgb = figure_to_rgb(fig)
        with atomic_path(path, suffix=".png") as tmp:
            plt.imsave(tmp, rgb, format="png")
    finally:
        plt.close(fig)
    return rgb
