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
from skimage.exposure import match_histograms

from cyclescan.errors import CheckpointError, InputError

BASELINES = ("identity", "histmatch")


def identity(source_norm: np.ndarray) -> np.ndarray:
    """The identity baseline: the model-space source (D, H, W) in [-1, 1], returned as float32."""
    return np.asarray(source_norm, dtype=np.float32)


def histogram_match(
    source_norm: np.ndarray,
    reference_quantiles: np.ndarray,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Match the source's (foreground) histogram to the reference quantiles.

    source_norm: (D, H, W) float in [-1, 1]; reference_quantiles: 1-D, equally spaced quantiles of
    the target domain's training intensities in [-1, 1] (a sample of that distribution);
    mask: voxels whose histogram is matched (default: all). Returns float32 (D, H, W) in [-1, 1].
    """
    src = np.asarray(source_norm, dtype=np.float32)
    ref = np.asarray(reference_quantiles, dtype=np.float64).ravel()
    ref = ref[np.isfinite(ref)]
    if ref.size < 2:
        raise InputError("histogram-matching reference has fewer than 2 finite quantiles")
    m = np.ones(src.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if not m.any():
        m = np.ones(src.shape, dtype=bool)
    fg = src[m].astype(np.float64)
    matched = match_histograms(fg, ref)
    # Extend the foreground mapping to every voxel: it is monotone in the source value, so a
    # linear interpolation through its (unique source value -> matched value) pairs is exact on
    # the foreground and clamps outside it.
    xs, idx = np.unique(fg, return_index=True)
    ys = matched[idx]
    lowest = float(src.min())
    if lowest < xs[0]:
        # Voxels darker than the whole foreground (air) go to the floor of model space, where a
        # normalized target's air is, instead of being lifted to the darkest tissue value.
        xs = np.concatenate([[lowest], xs])
        ys = np.concatenate([[min(-1.0, float(ys[0]))], ys])
    out = np.interp(src, xs, ys) if xs.size > 1 else np.full(src.shape, ys[0])
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def reference_from_checkpoint(ckpt: dict[str, Any], domain_key: str) -> np.ndarray:
    """The target domain's training quantiles stored in a checkpoint (``domain_key`` 'a' or 'b')."""
    ref = (ckpt.get("reference") or {}).get(domain_key)
    if ref is None:
        raise CheckpointError(
            f"{ckpt.get('_path', 'checkpoint')}: no reference quantiles for domain {domain_key!r}; "
            "pass --reference DIR (training volumes of the target domain)"
        )
    arr = ref.detach().cpu().numpy() if hasattr(ref, "detach") else np.asarray(ref)
    return np.asarray(arr, dtype=np.float32).ravel()


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
