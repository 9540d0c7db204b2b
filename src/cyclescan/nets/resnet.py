"""3D ResNet generator (Johnson et al. 2016, the original CycleGAN's ``resnet_9blocks``) in 3D.

    c7s1-C -> n_down x (stride-2 conv, channels x2) -> n_res residual blocks
           -> n_down x Upsample (channels /2) -> c7s1-1 -> tanh

Channels per stage are C * min(2**i, 8). Down-sampling strides follow the same anisotropic rule as
the U-Net (``blocks.stride_schedule``): the slice axis is only halved while >= ``min_depth`` slices
remain. Padding is 'replicate' rather than the original's reflection: reflection needs more slices
than the padding (3 for the 7x7x7 convs), which thin slabs at the bottom of the schedule may lack.
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
from torch import nn

from cyclescan.nets.blocks import (
    ConvNormAct,
    SafeConv3d,
    Upsample,
    check_divisible,
    norm_layer,
)
from cyclescan.nets.gate import AirGate
from cyclescan.nets.levels import level_plan
from cyclescan.nets.output_stage import OutputStage


class ResBlock3d(nn.Module):
    """x + [conv3-norm-ReLU-conv3-norm](x); shape-preserving (B, C, D, H, W)."""

    def __init__(self, channels: int, norm: Literal["instance", "none"]) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvNormAct(channels, channels, norm=norm, act="relu", padding_mode="replicate"),
            SafeConv3d(channels, channels, 3, padding=1, bias=norm == "none", padding_mode="replicate"),
            norm_layer(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102 - see class docstring
        return x + self.body(x)


class ResNetGenerator3d(OutputStage, nn.Module):
    """(B, 1, D, H, W) in [-1, 1] -> (B, 1, D, H, W) in [-1, 1]; D, H, W divisible by ``divisor``."""

    def __init__(
        self,
        patch_size: Sequence[int],
        *,
        base_channels: int = 32,
        n_down: int = 2,
        n_res_blocks: int = 6,
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
        self.strides, self.divisor, ch = level_plan(patch_size, n_down, min_depth, base_channels)
        layers: list[nn.Module] = [
            ConvNormAct(in_channels, ch[0], kernel=7, norm=norm, act="relu", padding_mode="replicate")
        ]
        for i in range(n_down):
            layers.append(ConvNormAct(ch[i], ch[i + 1], stride=self.strides[i], norm=norm, act="relu"))
        layers += [ResBlock3d(ch[-1], norm) for _ in range(n_res_blocks)]
        for i in reversed(range(n_down)):
            layers.append(Upsample(ch[i + 1], ch[i], self.strides[i], mode=upsample, norm=norm))
        layers.append(SafeConv3d(ch[0], out_channels, 7, padding=3, padding_mode="replicate"))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C_in, D, H, W) -> (B, C_out, D, H, W) in [-1, 1]."""
        check_divisible(x, self.divisor, "ResNetGenerator3d")
        return self.output_stage(self.model(x), x)
