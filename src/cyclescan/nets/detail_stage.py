"""Experimental: the ratio detail transfer (infer/detail.py) inside the generator, in model space.

``out = -1 + (x + 1) * G(y + 1) / (G(x + 1) + eps)``, clamped to [-1, 1]: the generator's output
``y`` keeps its local level and takes the source's fine structure, *during training*, so the
discriminators judge fakes that carry the source's real edges and noise and the generator only has
to get the tissue levels right. Model-space floors: -1 is the normalization floor (air) of both
domains. ``sigma`` is per axis in voxels (the training grid's; thick slices get less). A separable
Gaussian (replicate padding), differentiable in x and y.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def _kernel(sigma: float) -> torch.Tensor:
    if sigma <= 0:
        return torch.ones(1)
    r = max(1, int(math.ceil(3.0 * sigma)))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


class DetailStage(nn.Module):
    """``forward(x, y)``: source x and generator output y (B, C, D, H, W) in [-1, 1] -> y with x's
    fine structure, in [-1, 1]. Kernels are non-persistent buffers (no state-dict keys)."""

    def __init__(self, sigma: Sequence[float], eps: float = 1e-3) -> None:
        super().__init__()
        self.sigma = tuple(float(s) for s in sigma)
        self.eps = float(eps)
        for i, s in enumerate(self.sigma):
            self.register_buffer(f"k{i}", _kernel(s), persistent=False)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"

    def blur(self, v: torch.Tensor) -> torch.Tensor:
        c = v.shape[1]
        for axis in range(3):
            k = getattr(self, f"k{axis}").to(v.dtype)
            if k.numel() == 1:
                continue
            r = k.numel() // 2
            shape = [1, 1, 1, 1, 1]
            shape[2 + axis] = k.numel()
            pad = [0, 0, 0, 0, 0, 0]
            pad[2 * (2 - axis)] = pad[2 * (2 - axis) + 1] = r
            weight = k.view(shape).expand(c, 1, *shape[2:]).contiguous()
            v = F.conv3d(F.pad(v, pad, mode="replicate"), weight, groups=c)
        return v

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        s0 = (x[:, : y.shape[1]] + 1.0).clamp_min(0.0)
        t0 = y + 1.0
        out = -1.0 + s0 * self.blur(t0) / (self.blur(s0) + self.eps)
        return out.clamp(-1.0, 1.0)
