"""Monotone histogram mappings in model space (numpy): per volume and per domain.

- ``histogram_match(volume, reference_quantiles, mask)``: one volume's foreground histogram
  matched to a reference (scikit-image ``exposure.match_histograms``), extended to every voxel
  as a monotone lookup (air darker than the foreground goes to ``space.AIR``): the ``histmatch``
  baseline (metrics/baselines.py, reference = the target domain's training quantiles).
- ``standardization_map`` / ``apply_map``: the same kind of per-volume map as 1024 quantile
  landmarks (Nyul & Udupa histogram standardization), for ``data.standardize``: each volume
  matched to its *own* domain's training quantiles before the network, in training (one map per
  volume, applied patch by patch) and translation.
- ``quantile_map_table(src_quantiles, tgt_quantiles)``: the domain-level map between two
  training histograms, tabulated on a uniform grid (the histogram prior and the generator's
  histogram base, nets/quantile_map.py, look it up inside a torch forward pass).

Hand-written around scikit-image: ``match_histograms`` maps the values of the image it is given,
but these callers need the mapping itself (applied to every voxel, or tabulated).
"""

from __future__ import annotations

import numpy as np
from skimage.exposure import match_histograms

from cyclescan.errors import InputError
from cyclescan.space import AIR, HIGH, LOW

GRID = 4097


def _inputs(volume: np.ndarray, reference_quantiles: np.ndarray, mask: np.ndarray | None,
            what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(volume float32, finite reference float64, foreground voxels float64; all voxels when the
    mask is None or empty). InputError for a reference with fewer than 2 finite quantiles."""
    src = np.asarray(volume, dtype=np.float32)
    ref = np.asarray(reference_quantiles, dtype=np.float64).ravel()
    ref = ref[np.isfinite(ref)]
    if ref.size < 2:
        raise InputError(f"{what} reference has fewer than 2 finite quantiles")
    m = None if mask is None else np.asarray(mask, dtype=bool)
    fg = src[m] if m is not None and m.any() else src.ravel()
    return src, ref, fg.astype(np.float64)


def _mid_rank_probs(quantiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equally spaced quantiles (probabilities 0..1) -> (unique values, the mid-rank probability
    of each: a tie, e.g. many voxels clipped at +1, gets the middle of its probabilities)."""
    probs = np.linspace(0.0, 1.0, quantiles.size)
    values, inverse = np.unique(quantiles, return_inverse=True)
    return values, np.bincount(inverse, probs) / np.bincount(inverse)


def _with_air(lowest: float, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knots of a monotone map extended below the foreground: voxels darker than all of it (air)
    go to the floor of model space, where a normalized target's air is, instead of being lifted
    to the darkest tissue value."""
    if lowest < xs[0]:
        xs, ys = np.concatenate([[lowest], xs]), np.concatenate([[min(AIR, float(ys[0]))], ys])
    return xs, ys


def match_points(source_norm: np.ndarray, reference_quantiles: np.ndarray,
                 mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The monotone map that matches the source's (foreground) histogram to the reference.

    source_norm: (D, H, W) float in [-1, 1]; reference_quantiles: 1-D, equally spaced quantiles of
    a domain's training intensities in [-1, 1] (a sample of that distribution); mask: voxels whose
    histogram is matched (default: all). Returns increasing source values ``xs`` and their images
    ``ys``: ``np.interp(v, xs, ys)`` maps any voxel value ``v``.
    """
    src, ref, fg = _inputs(source_norm, reference_quantiles, mask, "histogram-matching")
    matched = match_histograms(fg, ref)
    # Extend the foreground mapping to every voxel: it is monotone in the source value, so a
    # linear interpolation through its (unique source value -> matched value) pairs is exact on
    # the foreground and clamps outside it.
    xs, idx = np.unique(fg, return_index=True)
    return _with_air(float(src.min()), xs, matched[idx])


def histogram_match(source_norm: np.ndarray, reference_quantiles: np.ndarray,
                    mask: np.ndarray | None = None) -> np.ndarray:
    """The source with its (foreground) histogram matched to the reference quantiles (see
    ``match_points``). Returns float32 (D, H, W) in [-1, 1]."""
    src = np.asarray(source_norm, dtype=np.float32)
    xs, ys = match_points(src, reference_quantiles, mask)
    out = np.interp(src, xs, ys) if xs.size > 1 else np.full(src.shape, ys[0])
    return np.clip(out, LOW, HIGH).astype(np.float32)


def standardization_map(volume_norm: np.ndarray, mask: np.ndarray | None, reference_quantiles: np.ndarray,
                        landmarks: int = 1024) -> np.ndarray:
    """Piecewise-linear histogram standardization of one volume onto a reference (Nyul & Udupa
    with ``landmarks`` evenly spaced quantiles as landmarks): knots ``(xs, ys)`` = the volume's
    foreground quantiles -> the reference's quantiles at the same probabilities (tied volume
    quantiles take the tie's mid-rank probability); voxels darker than the foreground go to air.

    A compact form of ``histogram_match``'s map (the same map, sampled at ``landmarks`` quantiles),
    small enough to keep one per training volume, so training patches and whole volumes at
    translation time go through the same function. Returns float64 (2, k): ``np.interp(v, *m)``.
    """
    src, ref, fg = _inputs(volume_norm, reference_quantiles, mask, "histogram standardization")
    values, mid_prob = _mid_rank_probs(np.quantile(fg, np.linspace(0.0, 1.0, landmarks)))
    xs, ys = _with_air(float(src.min()), values, np.interp(mid_prob, np.linspace(0.0, 1.0, ref.size), ref))
    return np.stack([xs, np.clip(ys, LOW, HIGH)])


def apply_map(array: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """``array`` through the piecewise-linear map ``knots`` (2, k) from ``standardization_map``
    (clamped beyond the end knots). Returns float32 of array's shape."""
    xs, ys = knots
    if xs.size < 2:
        return np.full(np.shape(array), ys[0], dtype=np.float32)
    return np.interp(np.asarray(array, dtype=np.float32), xs, ys).astype(np.float32)


def quantile_map_table(src_quantiles: np.ndarray, tgt_quantiles: np.ndarray, grid: int = GRID) -> np.ndarray:
    """The mapping Q_tgt(F_src(x)) tabulated at ``grid`` points evenly spaced on [-1, 1].

    src_quantiles / tgt_quantiles: 1-D equally spaced quantiles (probabilities 0..1) of the two
    domains' training foregrounds in [-1, 1]. Tied source quantiles (e.g. many voxels clipped at
    +1) get the mid-rank probability of the tie. Returns float32 (grid,), monotone non-decreasing.
    """
    qs = np.asarray(src_quantiles, dtype=np.float64).ravel()
    qt = np.asarray(tgt_quantiles, dtype=np.float64).ravel()
    qs, qt = qs[np.isfinite(qs)], qt[np.isfinite(qt)]
    if qs.size < 2 or qt.size < 2:
        raise ValueError("a quantile map needs at least 2 finite quantiles per domain")
    values, mid_prob = _mid_rank_probs(qs)
    x = np.linspace(LOW, HIGH, grid)
    u = np.interp(x, values, mid_prob) if values.size > 1 else np.full(grid, 0.5)
    y = np.interp(u, np.linspace(0.0, 1.0, qt.size), qt)
    y[x < values[0]] = AIR
    return np.clip(y, LOW, HIGH).astype(np.float32)
