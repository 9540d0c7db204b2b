"""Baselines any translation model must beat: identity and histogram matching.

Both work in model space ([-1, 1], the source normalized by its own percentile stats):

- **identity**: the normalized source, unchanged.
- **histmatch**: the normalized source's foreground histogram matched (scikit-image
  ``exposure.match_histograms``) to the target domain's *training* histogram, given as intensity
  quantiles in [-1, 1] (the checkpoint's ``reference[<target>]``, or computed from a folder of
  training volumes with ``data.normalize.intensity_quantiles``). This is the fair baseline:
  matching to the test truth itself would be an oracle. The monotone mapping found on the
  foreground is applied to every voxel (air darker than the foreground goes to -1), so the output
  is a pure monotone intensity lookup of the source, like any voxel-wise method.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cyclescan.data.histogram import histogram_match
from cyclescan.errors import CheckpointError, InputError

__all__ = ["BASELINES", "identity", "histogram_match", "histmatch_source", "reference_from_checkpoint",
           "reference_from_dir", "fit_paired_lookup", "apply_lookup"]
BASELINES = ("identity", "histmatch")


def identity(source_norm: np.ndarray) -> np.ndarray:
    """The identity baseline: the model-space source (D, H, W) in [-1, 1], returned as float32."""
    return np.asarray(source_norm, dtype=np.float32)


def histmatch_source(source: np.ndarray, reference: np.ndarray, data_cfg: Any,
                     fg: np.ndarray | None = None, source_norm: np.ndarray | None = None) -> np.ndarray:
    """The histmatch baseline of a raw source volume, in model space [-1, 1].

    source: (D, H, W) in scanner units. The source is normalized by its own percentile stats
    (``data_cfg.norm_*``, the training rule) and its foreground (``foreground_mask``, or every voxel
    when that is empty) is matched to ``reference`` (the target domain's training quantiles).
    fg, source_norm: the source's bool ``foreground_mask`` and its own-normalized volume when the
    caller already has them (evaluate's identity row). ``evaluate`` and the scripts use this one
    function, so they score the same baseline.
    """
    from cyclescan.data.normalize import foreground_mask
    from cyclescan.metrics.paired import own_normalize

    src = np.asarray(source, dtype=np.float32)
    fg = np.asarray(foreground_mask(src) if fg is None else fg, dtype=bool)
    if source_norm is None:
        source_norm = own_normalize(src, data_cfg.norm_lower_percentile, data_cfg.norm_upper_percentile,
                                    data_cfg.norm_foreground_mask, mask=fg)
    return histogram_match(source_norm, reference, mask=fg if fg.any() else np.ones(fg.shape, dtype=bool))


def reference_from_checkpoint(ckpt: dict[str, Any], domain_key: str) -> np.ndarray:
    """The target domain's training quantiles stored in a checkpoint (``domain_key`` 'a' or 'b')."""
    from cyclescan.train.checkpoint import checkpoint_reference

    ref = checkpoint_reference(ckpt, domain_key)
    if ref is None:
        raise CheckpointError(
            f"{ckpt.get('_path', 'checkpoint')}: no reference quantiles for domain {domain_key!r}; "
            "pass --reference DIR (training volumes of the target domain)"
        )
    return ref


def reference_from_dir(path: str | Path, lower_pct: float, upper_pct: float, use_mask: bool) -> np.ndarray:
    """Quantiles in [-1, 1] of the training volumes in ``path`` (each normalized by its own stats)."""
    from cyclescan.data.normalize import fit_stats, foreground_mask, intensity_quantiles, normalize
    from cyclescan.io import list_volumes, read_volume

    arrays = []
    for f in list_volumes(path):
        a = read_volume(f).array.astype(np.float32)
        stats = fit_stats(a, lower_pct, upper_pct, mask=foreground_mask(a) if use_mask else None)
        arrays.append(normalize(a, stats))
    if not arrays:
        raise InputError(f"{path}: no reference volumes")
    return np.asarray(intensity_quantiles(arrays), dtype=np.float32).ravel()


# ---------------------------------------------------------------------------------------------
# Paired voxel-wise lookup (issue 9): the ceiling of any voxel-wise intensity mapping. It is fit on
# PAIRED training voxels (which an unpaired model never sees), so it is an oracle-like reference,
# not a fair baseline. Hand-written (a binned conditional mean) because scikit-image/MONAI have no
# "fit a 1-D regression lookup from voxel pairs" function; sklearn's IsotonicRegression would force
# monotonicity, which echo contrasts need not have.


def fit_paired_lookup(
    source_norm: np.ndarray | list[np.ndarray],
    target_norm: np.ndarray | list[np.ndarray],
    mask: np.ndarray | list[np.ndarray] | None = None,
    n_bins: int = 128,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit target ~ f(source) voxel by voxel: the mean target value in equal-count source bins.

    source_norm, target_norm: voxel-aligned (D, H, W) arrays (or lists of them) in model space
    [-1, 1] (each volume normalized by its own stats); mask: voxels used for the fit (e.g. the
    target's foreground), default all. The binned conditional mean is the MSE-optimal voxel-wise
    map up to the bin resolution. Returns (xs, ys): 1-D float64 knots, xs strictly increasing (the
    mean source value in each bin), ys the mean target value there; apply with
    :func:`apply_lookup`.
    """
    srcs = source_norm if isinstance(source_norm, list) else [source_norm]
    tgts = target_norm if isinstance(target_norm, list) else [target_norm]
    masks = mask if isinstance(mask, list) else [mask] * len(srcs)
    if len(srcs) != len(tgts) or len(masks) != len(srcs):
        raise InputError("paired lookup: source, target and mask lists differ in length")
    xs_all, ys_all = [], []
    for s, t, m in zip(srcs, tgts, masks):
        s, t = np.asarray(s, dtype=np.float64), np.asarray(t, dtype=np.float64)
        if s.shape != t.shape:
            raise InputError(f"paired lookup: source shape {s.shape} != target shape {t.shape}")
        sel = np.ones(s.shape, dtype=bool) if m is None else np.asarray(m, dtype=bool)
        xs_all.append(s[sel])
        ys_all.append(t[sel])
    x, y = np.concatenate(xs_all), np.concatenate(ys_all)
    if x.size < 2:
        raise InputError("paired lookup: fewer than 2 voxels to fit")
    edges = np.unique(np.quantile(x, np.linspace(0.0, 1.0, int(n_bins) + 1)))
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, max(edges.size - 2, 0))
    count = np.bincount(idx, minlength=edges.size)
    keep = count > 0
    kx = (np.bincount(idx, weights=x, minlength=edges.size)[keep] / count[keep])
    ky = (np.bincount(idx, weights=y, minlength=edges.size)[keep] / count[keep])
    kx, first = np.unique(kx, return_index=True)
    return kx, ky[first]


def apply_lookup(source_norm: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Map a model-space source (D, H, W) through the knots of :func:`fit_paired_lookup`.

    Linear interpolation between knots, constant beyond the ends. Returns float32 in [-1, 1].
    """
    out = np.interp(np.asarray(source_norm, dtype=np.float64), xs, ys) if len(xs) > 1 else \
        np.full(np.shape(source_norm), float(ys[0]))
    return np.clip(out, -1.0, 1.0).astype(np.float32)
