"""Intensity normalization to model space [-1, 1] and back.

Per volume: a percentile window [lo, hi] (``data.norm_lower_percentile``..``upper``, default
0.5..99.5, optionally computed inside a foreground mask) maps linearly to [-1, 1] and is clipped.
``NormStats(lo, hi)`` inverts it. Per domain: the median of its training volumes' stats, saved in
the checkpoint, maps translated output to the target domain's scanner scale.

Unlike the report's ``x / 127.5 - 1`` (8-bit data), this works for any scanner range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_triangle

from cyclescan.errors import InputError
from cyclescan.space import HIGH, LOW


@dataclass(frozen=True)
class NormStats:
    """Intensity window: ``lo`` maps to -1, ``hi`` to +1 (scanner units, hi > lo)."""

    lo: float
    hi: float

    def to_dict(self) -> dict[str, float]:
        return {"lo": float(self.lo), "hi": float(self.hi)}

    @classmethod
    def from_dict(cls, d: dict) -> "NormStats":
        return cls(float(d["lo"]), float(d["hi"]))


def _check_finite(array: np.ndarray) -> None:
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise InputError(f"{bad} NaN/Inf voxel(s) in the image")


def foreground_mask(array: np.ndarray) -> np.ndarray:
    """Boolean (D, H, W) mask of tissue vs air.

    Triangle threshold (scikit-image ``threshold_triangle``) on the volume clipped at its 99.9th
    percentile (so a few bright voxels do not pull the threshold up), then holes filled slice by
    slice. Falls back to ``array > min`` when it finds almost nothing (e.g. images without air).

    Why triangle, not Otsu: Otsu splits the two largest intensity classes. In a knee CISS those
    are fat/marrow (bright) versus muscle/cartilage/ligament (dark), so Otsu put muscle, cartilage
    and the ACL *outside* the "foreground" and the percentile window then clipped them to -1, the
    air level (measured on the phantom: 5 % of muscle and 6 % of cartilage inside the Otsu mask;
    in DESS, fat was outside). The triangle method finds the foot of the dominant air peak, which
    is what a tissue/air mask needs (phantom: >= 98 % of every tissue inside, 2-3 % of the air
    label inside, the partial-volume skin edge).
    """
    a = np.asarray(array, dtype=np.float32)
    _check_finite(a)
    sample = a[:: max(1, a.shape[0] // 16)].ravel()
    top = float(np.percentile(sample, 99.9))
    lo = float(sample.min())
    if top <= lo:
        return np.zeros(a.shape, dtype=bool) if a.max() <= lo else a > lo
    t = threshold_triangle(np.clip(sample, lo, top))
    mask = a > t
    # Fill holes in-plane (dark tissue such as cortical bone inside the knee).
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = ndimage.generate_binary_structure(2, 1)
    mask = ndimage.binary_fill_holes(mask, structure=structure)
    if mask.mean() < 0.005:
        mask = a > lo
    return mask


def fit_stats(array: np.ndarray, lower_pct: float = 0.5, upper_pct: float = 99.5,
              mask: np.ndarray | None = None) -> NormStats:
    """Percentile window of ``array`` (inside ``mask`` if given and non-empty).

    Raises InputError for NaN/Inf voxels or a constant image. If the masked window collapses
    (hi == lo), the window over the whole image is used instead.
    """
    a = np.asarray(array, dtype=np.float64)
    _check_finite(a)
    amin, amax = float(a.min()), float(a.max())
    if amax <= amin:
        raise InputError(f"image is constant (every voxel = {amin:g}); nothing to normalize")
    vals = a[mask] if mask is not None and np.any(mask) else a.ravel()
    lo, hi = (float(v) for v in np.percentile(vals, [lower_pct, upper_pct]))
    if hi <= lo:
        lo, hi = (float(v) for v in np.percentile(a, [lower_pct, upper_pct]))
    if hi <= lo:
        lo, hi = amin, amax
    return NormStats(lo, hi)


def normalize(array: np.ndarray, stats: NormStats) -> np.ndarray:
    """Scanner units -> model space: ``2 (x - lo) / (hi - lo) - 1``, clipped to [-1, 1], float32."""
    scale = 2.0 / (stats.hi - stats.lo)
    out = (np.asarray(array, dtype=np.float32) - np.float32(stats.lo)) * np.float32(scale) - np.float32(1.0)
    return np.clip(out, LOW, HIGH, out=out)


def denormalize(array: np.ndarray, stats: NormStats) -> np.ndarray:
    """Model space [-1, 1] -> scanner units: ``(y + 1) / 2 (hi - lo) + lo``, float32."""
    y = np.asarray(array, dtype=np.float32)
    return ((y + np.float32(1.0)) * np.float32((stats.hi - stats.lo) / 2.0) + np.float32(stats.lo)).astype(np.float32)


def domain_stats(stats: Sequence[NormStats]) -> NormStats:
    """Median ``lo`` and median ``hi`` over a domain's training volumes."""
    if not stats:
        raise ValueError("domain_stats of an empty list")
    lo = float(np.median([s.lo for s in stats]))
    hi = float(np.median([s.hi for s in stats]))
    if hi <= lo:
        hi = lo + 1.0
    return NormStats(lo, hi)


def intensity_quantiles(arrays: Sequence[np.ndarray], n: int = 1024, masks: Sequence[np.ndarray] | None = None,
                        max_voxels: int = 2_000_000) -> np.ndarray:
    """``n`` quantiles (evenly spaced probabilities 0..1) of the pooled foreground voxels of a domain.

    Args:
        arrays: normalized volumes in [-1, 1], any shapes.
        masks: foreground masks (computed with ``foreground_mask`` when None).
        max_voxels: at most this many voxels per volume are used (a fixed stride subsample).
    Returns:
        float32 (n,), non-decreasing, in [-1, 1]: the reference for histogram-matching baselines.
    """
    pooled = []
    for i, a in enumerate(arrays):
        m = masks[i] if masks is not None else foreground_mask(a)
        v = np.asarray(a, dtype=np.float32)[m] if np.any(m) else np.asarray(a, dtype=np.float32).ravel()
        pooled.append(v[:: max(1, v.size // max_voxels)])
    if not pooled:
        raise ValueError("intensity_quantiles of an empty list")
    q = np.quantile(np.concatenate(pooled), np.linspace(0.0, 1.0, n))
    return np.clip(q, LOW, HIGH).astype(np.float32)
