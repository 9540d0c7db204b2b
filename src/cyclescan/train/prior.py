"""Histogram prior: a fixed, monotone intensity mapping from one domain to the other.

Built once from the two domains' *training* foreground quantiles (the checkpoint ``reference``, in
model space [-1, 1]): ``prior_ab(x) = Q_b(F_a(x))`` with ``F_a`` the CDF of domain A's training
foreground and ``Q_b`` domain B's quantile function. It is the domain-level version of the
``histmatch`` baseline (which matches each test volume's own histogram) and uses only unpaired
information: the two marginal histograms. Voxels darker than A's darkest foreground quantile (air)
map to the floor -1, where a normalized target's air lies.

``loss.histogram_prior_weight`` pulls each generator's output toward this mapping of its input
(L1, weighted like the identity loss as a fraction of ``lambda_cycle``): a prior for problems whose
contrasts are related by a roughly monotone intensity change (e.g. echo 1 -> echo 8 of a T2
series), which the identity loss would pull toward *no* change. The GAN and cycle terms refine it.

The mapping is tabulated on a uniform grid over [-1, 1] (``GRID`` points) so a training step costs
one gather + lerp per voxel. Hand-written because no library offers a differentiable-free torch
lookup of a quantile map; the numbers follow ``skimage.exposure.match_histograms``' quantile rule.
"""

from __future__ import annotations

import numpy as np
import torch

GRID = 4097
FLOOR = -1.0  # the model-space air level (normalization floor)


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
        raise ValueError("histogram prior needs at least 2 finite quantiles per domain")
    probs = np.linspace(0.0, 1.0, qs.size)
    values, inverse = np.unique(qs, return_inverse=True)
    mid_prob = np.bincount(inverse, probs) / np.bincount(inverse)  # mid-rank of each tie
    x = np.linspace(-1.0, 1.0, grid)
    u = np.interp(x, values, mid_prob) if values.size > 1 else np.full(grid, 0.5)
    y = np.interp(u, np.linspace(0.0, 1.0, qt.size), qt)
    y[x < values[0]] = FLOOR
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def apply_table(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear lookup of ``x`` (any shape, values in [-1, 1], clamped) in a uniform-grid
    ``table`` over [-1, 1]. Returns a tensor of x's shape and dtype; no gradient flows (a target)."""
    with torch.no_grad():
        t = table.to(device=x.device, dtype=torch.float32)
        n = t.numel()
        pos = (x.float().clamp(-1.0, 1.0) + 1.0) * (0.5 * (n - 1))
        lo = pos.floor().clamp(0, n - 2)
        frac = pos - lo
        lo = lo.long()
        out = t[lo] * (1.0 - frac) + t[lo + 1] * frac
    return out.to(x.dtype)


class HistogramPrior:
    """Both directions' tables from the training reference quantiles {'a': (n,), 'b': (n,)}."""

    def __init__(self, reference: dict[str, np.ndarray | torch.Tensor]) -> None:
        ref = {k: np.asarray(v.detach().cpu() if torch.is_tensor(v) else v, dtype=np.float64)
               for k, v in reference.items()}
        self.tables = {"a2b": torch.from_numpy(quantile_map_table(ref["a"], ref["b"])),
                       "b2a": torch.from_numpy(quantile_map_table(ref["b"], ref["a"]))}

    def __call__(self, x: torch.Tensor, direction: str) -> torch.Tensor:
        """The prior's translation of ``x`` (B,1,D,H,W) in [-1, 1] for 'a2b' or 'b2a'."""
        return apply_table(x, self.tables[direction])
