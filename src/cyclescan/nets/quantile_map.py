"""Quantile map: the monotone intensity mapping between two domains' training histograms.

``table = data.histogram.quantile_map_table(q_src, q_tgt)`` tabulates ``Q_tgt(F_src(x))`` on a uniform grid over
model space [-1, 1] (``F_src``: the source domain's foreground CDF from its training quantiles,
``Q_tgt``: the target domain's quantile function); ``apply_table`` looks values up with linear
interpolation. Voxels darker than the source's darkest foreground quantile (air) map to the floor
-1, where a normalized target's air lies. It is the domain-level version of the ``histmatch``
baseline (metrics/baselines.py matches each test volume's own histogram) and uses only unpaired
information. Two users: the histogram-prior loss (train/prior.py) and a generator's optional
histogram base (``QuantileMap`` module: the generator learns a correction of this map).

Hand-written: the lookup must run inside a torch forward pass (scikit-image's match_histograms
works on numpy arrays, per image); the numbers follow its quantile rule (a test compares them).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cyclescan.data.histogram import GRID



def apply_table(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear lookup of ``x`` (any shape, values in [-1, 1], clamped) in a uniform-grid
    ``table`` over [-1, 1]. Returns a tensor of x's shape and dtype; no gradient flows."""
    with torch.no_grad():
        t = table.to(device=x.device, dtype=torch.float32)
        n = t.numel()
        pos = (x.float().clamp(-1.0, 1.0) + 1.0) * (0.5 * (n - 1))
        lo = pos.floor().clamp(0, n - 2)
        frac = pos - lo
        lo = lo.long()
        out = t[lo] * (1.0 - frac) + t[lo + 1] * frac
    return out.to(x.dtype)


class QuantileMap(nn.Module):
    """A generator's histogram base: ``forward(x)`` = the pre-tanh logits of the quantile map of x.

    The table is a buffer (saved in the generator's state dict, so translation needs nothing else);
    it starts as the identity map and is set once from the training quantiles (``set_table``).
    Logits are ``atanh`` of the mapped value clamped to +-``1 - eps`` (air: a large negative logit).
    """

    def __init__(self, grid: int = GRID, eps: float = 1e-3) -> None:
        super().__init__()
        self.eps = float(eps)
        self.register_buffer("table", torch.linspace(-1.0, 1.0, grid))

    def set_table(self, table: np.ndarray | torch.Tensor) -> None:
        t = torch.as_tensor(np.asarray(table, dtype=np.float32))
        if t.shape != self.table.shape:
            raise ValueError(f"quantile map table must have shape {tuple(self.table.shape)}, got {tuple(t.shape)}")
        self.table.copy_(t.to(self.table.device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = apply_table(x[:, :1], self.table)
        return torch.atanh(y.float().clamp(-1.0 + self.eps, 1.0 - self.eps)).to(x.dtype)
