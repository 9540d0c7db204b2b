"""3D PatchGAN discriminator (Isola et al. 2017, the original CycleGAN's ``basic`` D) in 3D.

    conv(1->C, stride s_1) LReLU                                   (no norm on the first layer)
    for i = 2..n_layers: conv(stride s_i) InstanceNorm LReLU [Dropout]
    conv(stride 1) InstanceNorm LReLU [Dropout] -> conv(->1, stride 1)     raw logits/scores

Strides s_i follow the anisotropic rule of ``blocks.stride_schedule`` (slice axis only while
>= ``min_depth`` slices remain). Strided axes use kernel 4 / padding 1 (size halves exactly, as the
original); stride-1 axes and the last two layers use kernel 3 / padding 1 (size kept, unlike the
original's k4 which trims one voxel), so the output is exactly input / ``divisor`` per axis.
The price: with ``n_layers=3`` the in-plane receptive field is 54 x 54 voxels, not the original's
70 x 70 (measured by gradient with the norms removed; the slice axis covers a 20-slice patch).

Unlike ``monai.networks.nets.PatchDiscriminator`` (BatchNorm by default, returns a list of
intermediate features) this returns a single (B, 1, d, h, w) score map.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from cyclescan.nets.blocks import SafeConv3d, Triple, activation, norm_layer
from cyclescan.nets.levels import level_plan


def _conv(c_in: int, c_out: int, stride: Triple, *, bias: bool) -> SafeConv3d:
    kernel = tuple(4 if s == 2 else 3 for s in stride)
    return SafeConv3d(c_in, c_out, kernel, stride=stride, padding=1, bias=bias)


class PatchGAN3d(nn.Module):
    """(B, C, D, H, W) -> (B, 1, D/d_d, H/d_h, W/d_w) unbounded scores (d = ``self.divisor``;
    C = ``in_channels``: 1, or 4 with position channels)."""

    def __init__(
        self,
        patch_size: Sequence[int],
        *,
        base_channels: int = 64,
        n_layers: int = 3,
        min_depth: int = 4,
        dropout: float = 0.0,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        self.in_channels = int(in_channels)
        self.strides, self.divisor, ch = level_plan(patch_size, n_layers, min_depth, base_channels)
        layers: list[nn.Module] = [_conv(in_channels, ch[0], self.strides[0], bias=True), activation("leakyrelu")]

        def block(c_in: int, c_out: int, stride: Triple) -> list[nn.Module]:
            out: list[nn.Module] = [
                _conv(c_in, c_out, stride, bias=False),
                norm_layer("instance", c_out),
                activation("leakyrelu"),
            ]
            if dropout > 0:
                out.append(nn.Dropout(dropout))
            return out

        for i in range(1, n_layers):
            layers += block(ch[i - 1], ch[i], self.strides[i])
        layers += block(ch[n_layers - 1], ch[n_layers], (1, 1, 1))
        layers.append(_conv(ch[n_layers], 1, (1, 1, 1), bias=True))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 1, D, H, W) -> scores (B, 1, D/d_d, H/d_h, W/d_w)."""
        return self.model(x)

    def output_shape(self, size: Sequence[int]) -> Triple:
        """Spatial shape of the score map for an input of spatial ``size`` (D, H, W)."""
        return (size[0] // self.divisor[0], size[1] // self.divisor[1], size[2] // self.divisor[2])
