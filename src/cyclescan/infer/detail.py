"""Ratio detail transfer: keep the source's fine structure, take the translation's local level.

Two MR acquisitions of the same knee share proton density, the receive-coil bias field and the
tissue texture, all *multiplicative*; the contrast change between them is a per-tissue factor
that is smooth inside a tissue. So the target is close to ``source x r`` with ``r`` a smooth
ratio field. A small CycleGAN gets the tissue *levels* roughly right but blurs borders and thin
structures and inverts texture (phantom error budget, docs/results.md section 1). This
post-process keeps the model's local level and the source's fine structure::

    out = f_t + (s - f_s) * G(t - f_t) / (G(s - f_s) + eps)

with ``s`` the source and ``t`` the translation (both in the input's geometry), ``f_s`` and
``f_t`` their zero-signal floors (source: 0, or its minimum if that is negative; translation: the
target's ``lo``, the level the air gate writes for air; both also hold when a volume has no
air), ``G`` an isotropic Gaussian (in mm) whose sigma is ``sigma`` times the *finest* voxel
spacing (so thick slices are smoothed less across slices, in voxels), and ``eps`` a small fraction
of the source's high percentile. The width is tied to the finest voxel because the model's
errors at borders live at its voxel scale: the best width, selected on data not used for testing,
was 1-1.5 in-plane voxels both on the phantom (1.17 mm voxels) and on the real knee (0.625 mm
voxels), docs/results.md. In a neighbourhood inside one tissue ``out`` is the source times that
tissue's level ratio; where the translation is air (``t = f_t``) the output stays exactly
``f_t``. Structure finer than the Gaussian (edges, partial-volume borders, thin structures,
texture and noise) comes from the source; structure coarser than it (tissue levels, the bias
field) from the model. Known costs: within ~2 sigma of a border between two tissues whose
contrast inverts, the ratio mixes both sides (a halo); the source's noise is carried over, scaled
by the ratio. It reads nothing but the source and the model's output (no truth, no pairs).

Hand-written on scipy.ndimage.gaussian_filter because this is a ratio of two smoothed signals
(a "ratio image"), which no field library offers as one call; a guided filter (local linear fit)
was measured worse on the phantom (it copies the model's inverted texture back).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage as ndi


def sigma_voxels(sigma: float, spacing: Sequence[float]) -> tuple[float, ...]:
    """Per-axis sigma in voxels of an isotropic Gaussian of ``sigma`` x the finest spacing (mm)."""
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    sp = [max(float(s), 1e-6) for s in spacing]
    mm = float(sigma) * min(sp)
    return tuple(mm / s for s in sp)


def ratio_detail_transfer(
    source: np.ndarray,
    translated: np.ndarray,
    spacing: Sequence[float],
    sigma: float,
    eps_fraction: float = 1e-3,
    floor: float | None = None,
) -> np.ndarray:
    """The translation with the source's multiplicative fine structure (see the module doc).

    source, translated: (D, H, W) arrays of one geometry (source scanner units; the translation
    in target units). spacing: voxel size in mm per axis. sigma: Gaussian width of the ratio
    field in units of the finest voxel spacing; 0 returns the translation unchanged.
    eps_fraction: ``eps`` as a fraction of the source's 99.5th percentile above its floor (keeps
    the ratio finite in air). floor: the translation's zero-signal level (translate_volume passes
    the target domain's ``lo``); None = the translation's minimum.
    Returns float32 (D, H, W) in target units, >= the translation's floor.
    """
    t = np.asarray(translated, dtype=np.float32)
    if sigma == 0:
        return t.copy()
    s = np.asarray(source, dtype=np.float32)
    if s.shape != t.shape:
        raise ValueError(f"source {s.shape} and translation {t.shape} differ in shape")
    sig = sigma_voxels(sigma, spacing)
    fs = min(0.0, float(s.min()))
    ft = float(t.min()) if floor is None else min(float(floor), float(t.min()))
    s0, t0 = s - fs, t - ft  # float32 throughout: whole volumes can be hundreds of MB
    eps = max(float(np.percentile(s0, 99.5)), 1e-12) * eps_fraction
    num = ndi.gaussian_filter(t0, sig, mode="nearest")
    den = ndi.gaussian_filter(s0, sig, mode="nearest")
    den += eps
    num /= den
    num *= s0
    num += ft
    return num
