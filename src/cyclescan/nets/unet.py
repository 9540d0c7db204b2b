"""3D U-Net generator with an anisotropic pooling schedule.

Layout (depth L, base channels C, channels c_l = C * min(2**l, 8)):

    x (B,1,D,H,W) -> [ConvNormAct(1->c0), ConvNormAct(c0->c0)]                  level 0, full size
    for l = 1..L:   strided ConvNormAct(c_{l-1}->c_l, stride s_l) + ConvNormAct(c_l->c_l)
    for l = L..1:   Upsample(c_l->c_{l-1}, s_l), concat skip, 2x ConvNormAct(2c_{l-1}->c_{l-1})
    head: 1x1x1 conv c0->1 (+ optional intensity branch of the raw x, nets/intensity.py,
          + optional histogram base, nets/quantile_map.py), tanh -> (B,1,D,H,W) in [-1, 1]
          (or ``output="log_ratio"``: the source times exp(logits), nets/log_ratio.py)
    optional air gate (nets/gate.py): source air -> -1 in the output

Down-sampling is a learned stride-2 conv (as the original CycleGAN U-Net) rather than max
pooling. The strides s_l come from ``blocks.stride_schedule(patch_size, L, min_depth)``: the slice
axis is only halved while >= ``min_depth`` slices remain. Encoder activations are LeakyReLU(0.2),
decoder ReLU, as in the original CycleGAN.

No global residual (output = input + delta) on purpose: CISS and DESS contrasts differ globally
(fluid/cartilage inversion), so the identity is not a useful prior; the identity loss already
pulls the generator toward preserving what it can. Where the contrasts are related by a monotone
intensity change, ``histogram_base`` makes the output a learned correction of the domain-level
histogram mapping instead (zero-initialised head: training starts at that mapping).
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
from torch import nn

from cyclescan.nets.blocks import ConvNormAct, SafeConv3d, Upsample, check_divisible
from cyclescan.nets.gate import AirGate
from cyclescan.nets.levels import level_plan
from cyclescan.nets.output_stage import OutputStage


class UNet3d(OutputStage, nn.Module):
    """3D U-Net: (B, 1, D, H, W) in [-1, 1] -> (B, 1, D, H, W) in [-1, 1] (tanh).

    D, H, W must be divisible by ``self.divisor`` (the product of the level strides).
    """

    def __init__(
        self,
        patch_size: Sequence[int],
        *,
        base_channels: int = 32,
        depth: int = 4,
        min_depth: int = 4,
        upsample: Literal["interp", "transpose"] = "interp",
        norm: Literal["instance", "none"] = "instance",
        in_channels: int = 1,
        out_channels: int = 1,
        air_gate: AirGate | None = None,
        detail: nn.Module | None = None,
        intensity_hidden: int = 0,
        histogram_base: bool = False,
        output: str = "tanh",
    ) -> None:
        super().__init__()
        self.init_output_stage(in_channels=in_channels, out_channels=out_channels, air_gate=air_gate, detail=detail,
                               intensity_hidden=intensity_hidden, histogram_base=histogram_base, output=output)
        self.strides, self.divisor, ch = level_plan(patch_size, depth, min_depth, base_channels)
        self.stem = nn.Sequential(
            ConvNormAct(in_channels, ch[0], norm=norm),
            ConvNormAct(ch[0], ch[0], norm=norm),
        )
        self.down = nn.ModuleList(
            nn.Sequential(
                ConvNormAct(ch[lvl - 1], ch[lvl], stride=self.strides[lvl - 1], norm=norm),
                ConvNormAct(ch[lvl], ch[lvl], norm=norm),
            )
            for lvl in range(1, depth + 1)
        )
        # up[i] undoes down[i]: ch[i+1] -> ch[i] at scale strides[i]
        self.up = nn.ModuleList(
            Upsample(ch[lvl + 1], ch[lvl], self.strides[lvl], mode=upsample, norm=norm) for lvl in range(depth)
        )
        self.fuse = nn.ModuleList(
            nn.Sequential(
                ConvNormAct(2 * ch[lvl], ch[lvl], norm=norm, act="relu"),
                ConvNormAct(ch[lvl], ch[lvl], norm=norm, act="relu"),
            )
            for lvl in range(depth)
        )
        self.head = SafeConv3d(ch[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C_in, D, H, W) -> (B, C_out, D, H, W) in [-1, 1]."""
        check_divisible(x, self.divisor, "UNet3d")
        skips = [self.stem(x)]
        for block in self.down:
            skips.append(block(skips[-1]))
        y = skips.pop()
        for lvl in reversed(range(len(self.up))):
            y = self.up[lvl](y)
            y = self.fuse[lvl](torch.cat([y, skips.pop()], dim=1))
        return self.output_stage(self.head(y), x)
