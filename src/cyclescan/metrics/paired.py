"""Paired image metrics (PSNR, 3D SSIM, MAE, NCC) in the documented metric space.

**Metric space** (docs/architecture.md, docs/evaluation.md): each volume is normalized by its *own*
percentile statistics (``cfg.data`` percentiles, inside its own foreground mask when
``data.norm_foreground_mask``), clipped to [-1, 1] and mapped to [0, 1] by ``(x + 1) / 2``. Every
metric is computed over the voxels of the *target's* foreground mask only, so air does not inflate
the scores. PSNR uses a fixed data range of 1 (never the image maximum, which would make numbers
incomparable between subjects).

SSIM is the standard Wang et al. (2004) SSIM in 3D: Gaussian window sigma 1.5 voxels (11 wide),
K1 = 0.01, K2 = 0.03, population covariance, which is what ``monai.metrics.SSIMMetric`` computes;
scikit-image gives the per-voxel SSIM map we average inside the mask (tests check the two
libraries agree). Volumes thinner than 11 voxels along an axis fall back to a uniform window of the
largest odd size that fits (at least 3).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from cyclescan.data.normalize import fit_stats, foreground_mask, normalize

PAIRED_METRICS = ("psnr", "ssim", "mae", "ncc")
SSIM_SIGMA = 1.5
SSIM_GAUSS_WIN = 11  # 2 * round(3.5 * sigma) + 1: scikit-image's and MONAI's window for sigma 1.5


@dataclass
class PairedScores:
    """Scores of one prediction against one truth (inside the truth's foreground mask).

    psnr: dB (data range 1; ``inf`` for identical volumes), ssim: [-1, 1] (1 = identical),
    mae: [0, 1], ncc: Pearson correlation in [-1, 1].
    """

    psnr: float
    ssim: float
    mae: float
    ncc: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def own_normalize(
    array: np.ndarray,
    lower_pct: float = 0.5,
    upper_pct: float = 99.5,
    use_mask: bool = True,
    *,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Normalize a volume to [-1, 1] by its own percentile stats (the training rule).

    array: (D, H, W) any intensity scale. Returns float32 (D, H, W) in [-1, 1]. The percentiles are
    taken inside ``foreground_mask(array)`` when ``use_mask`` (``data.norm_foreground_mask``);
    ``mask``: that mask when the caller already has it (bool (D, H, W)), to not compute it again.
    """
    a = np.asarray(array, dtype=np.float32)
    if use_mask and mask is None:
        mask = foreground_mask(a)
    mask = mask if use_mask else None
    return np.asarray(normalize(a, fit_stats(a, lower_pct, upper_pct, mask=mask)), dtype=np.float32)


def to_metric_space(
    array: np.ndarray,
    lower_pct: float = 0.5,
    upper_pct: float = 99.5,
    use_mask: bool = True,
) -> np.ndarray:
    """:func:`own_normalize` mapped to [0, 1] by ``(x + 1) / 2``: float32 (D, H, W) in [0, 1]."""
    return ((own_normalize(array, lower_pct, upper_pct, use_mask) + 1.0) * 0.5).astype(np.float32)


def psnr(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB with data range 1 over ``mask`` voxels: ``10 log10(1 / MSE)``; inf if MSE = 0."""
    p, t = _masked(pred, truth, mask)
    if mean_squared_error(t, p) == 0.0:
        return float("inf")
    return float(peak_signal_noise_ratio(t, p, data_range=1.0))


def mae(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean absolute error over ``mask`` voxels (same units as the inputs: [0, 1] here)."""
    p, t = _masked(pred, truth, mask)
    return float(np.mean(np.abs(p - t)))


def ncc(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Normalized cross-correlation (Pearson r) over ``mask`` voxels, in [-1, 1].

    Hand-written (one line of numpy): neither MONAI nor scikit-image exposes a plain masked NCC
    (MONAI's LocalNormalizedCrossCorrelationLoss is a windowed loss). 0 if either side is constant.
    """
    p, t = _masked(pred, truth, mask)
    p = p - p.mean()
    t = t - t.mean()
    denom = float(np.sqrt(np.sum(p * p) * np.sum(t * t)))
    return float(np.sum(p * t) / denom) if denom > 0 else 0.0


def ssim_map(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-voxel 3D SSIM map (D, H, W) float64, data range 1 (see module docstring for the window)."""
    p, t = _as_pair(pred, truth)
    if min(t.shape) >= SSIM_GAUSS_WIN:
        _, smap = structural_similarity(
            t, p, data_range=1.0, gaussian_weights=True, sigma=SSIM_SIGMA,
            use_sample_covariance=False, full=True,
        )
        return smap
    win = min(7, *(s if s % 2 else s - 1 for s in t.shape))
    if win < 3:
        raise ValueError(f"volume {t.shape} too thin for a 3D SSIM window (needs >= 3 voxels per axis)")
    _, smap = structural_similarity(t, p, data_range=1.0, win_size=win, use_sample_covariance=False, full=True)
    return smap


def ssim(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean 3D SSIM over ``mask`` voxels (whole volume if ``mask`` is None)."""
    smap = ssim_map(pred, truth)
    if mask is None:
        return float(smap.mean())
    return float(smap[_as_mask(mask, smap.shape)].mean())


def paired_scores(pred01: np.ndarray, truth01: np.ndarray, mask: np.ndarray | None) -> PairedScores:
    """All four paired metrics of ``pred01`` vs ``truth01``, both (D, H, W) in [0, 1] metric space."""
    return PairedScores(
        psnr=psnr(pred01, truth01, mask),
        ssim=ssim(pred01, truth01, mask),
        mae=mae(pred01, truth01, mask),
        ncc=ncc(pred01, truth01, mask),
    )


def _as_pair(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pred, truth) as float64 arrays of one shape; ValueError when the shapes differ."""
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"shape mismatch {p.shape} vs {t.shape}")
    return p, t


def _as_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``mask`` as bool; ValueError when its shape is not ``shape`` or it selects nothing."""
    m = np.asarray(mask, dtype=bool)
    if m.shape != shape:
        raise ValueError(f"mask shape {m.shape} differs from volume shape {shape}")
    if not m.any():
        raise ValueError("empty foreground mask")
    return m


def _masked(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The voxels of ``pred`` and ``truth`` inside ``mask`` (all of them when None), float64 1-D."""
    p, t = _as_pair(pred, truth)
    if mask is None:
        return p.ravel(), t.ravel()
    m = _as_mask(mask, t.shape)
    return p[m], t[m]
