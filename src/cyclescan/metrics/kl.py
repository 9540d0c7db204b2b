"""The report's histogram KL divergence, exactly defined.

Both volumes are in normalized [-1, 1] space. Each is mapped to [0, 1] by (x + 1) / 2, binned into
256 equal bins on [0, 1] (values outside land in the edge bins), normalized to sum 1, and

    KL(P || Q) = sum_i p_i * log((p_i + 1e-10) / (q_i + 1e-10))      (nats)

with P the real target-domain volume and Q the translated volume. Shared by training validation
and ``cyclescan evaluate``.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-10
BINS = 256


def normalized_histogram(x: np.ndarray, bins: int = BINS) -> np.ndarray:
    """256-bin histogram of a [-1, 1] volume mapped to [0, 1], summing to 1 (float64)."""
    u = (np.asarray(x, dtype=np.float64).ravel() + 1.0) / 2.0
    u = u[np.isfinite(u)]
    if u.size == 0:
        raise ValueError("histogram of an empty or all-non-finite volume")
    # Values outside [0, 1] land in the edge bins: clip before binning.
    idx = np.clip(np.floor(u * bins).astype(np.int64), 0, bins - 1)
    counts = np.bincount(idx, minlength=bins).astype(np.float64)
    return counts / counts.sum()


def kl_from_histograms(p: np.ndarray, q: np.ndarray) -> float:
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    return float(np.sum(p * np.log((p + EPS) / (q + EPS))))


def histogram_kl(real: np.ndarray, translated: np.ndarray, bins: int = BINS) -> float:
    """KL(P_real || Q_translated) in nats, both inputs in normalized [-1, 1] space."""
    return kl_from_histograms(normalized_histogram(real, bins), normalized_histogram(translated, bins))
