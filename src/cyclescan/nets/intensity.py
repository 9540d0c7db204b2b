"""Intensity branch: a per-voxel (1x1x1) MLP of the *raw* source intensity, added to a generator's
output logits before the tanh.

Why: every conv block of the generators normalizes its features per instance (InstanceNorm), so
the absolute intensity of a voxel - the thing an MR contrast translation maps first - reaches the
head only indirectly, reconstructed from relative context. Measured on the real knee series
(echo 1 -> echo 8, 8x64x64 patches, U-Net base 8, supervised L1 to a fixed monotone intensity
map, 300 Adam steps at 5e-4): instance-norm U-Net L1 0.17, without norm 0.08, with this branch 0.054
(docs/results.md section 2). The branch learns the global intensity transfer function (any
smooth pointwise map, not only monotone: it can invert fat); the U-Net adds what needs context
(tissue identity, bias field, texture).

``hidden`` channels, two LeakyReLU(0.2) hidden layers; 1x1x1 convs so the branch is local,
window-independent in sliding-window inference and costs ~2 * hidden^2 MACs per voxel.
"""

from __future__ import annotations

import torch
from torch import nn

from cyclescan.nets.blocks import SafeConv3d


class IntensityBranch(nn.Sequential):
    """(B, C_in, D, H, W) -> (B, C_out, D, H, W) logits, voxel by voxel."""

    def __init__(self, hidden: int, in_channels: int = 1, out_channels: int = 1) -> None:
        if hidden < 1:
            raise ValueError(f"intensity branch needs >= 1 hidden channel, got {hidden}")
        super().__init__(
            SafeConv3d(in_channels, hidden, 1),
            nn.LeakyReLU(0.2),
            SafeConv3d(hidden, hidden, 1),
            nn.LeakyReLU(0.2),
            SafeConv3d(hidden, out_channels, 1),
        )


def output_logits(logits: torch.Tensor, x: torch.Tensor, branch: nn.Module | None,
                  base: nn.Module | None) -> torch.Tensor:
    """A generator's final logits: the body's ``logits`` + ``branch(x)`` (intensity branch) +
    ``base(x)`` (histogram base, nets/quantile_map.py), each only when present."""
    if branch is not None:
        logits = logits + branch(x)
    if base is not None:
        logits = logits + base(x)
    return logits
