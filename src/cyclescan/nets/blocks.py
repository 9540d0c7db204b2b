"""Building blocks shared by the generators and the discriminator.

* ``SafeConv3d`` / ``SafeConvTranspose3d``: convolutions that run in fp32 (autocast disabled)
  whenever their input has <= 2 slices. oneDNN on the project CPUs returns wrong (NaN/garbage)
  bf16 weight gradients for 3x3x3 stride-1 convs on depth-2 maps; the anisotropic schedule below
  already avoids such maps, this is the belt to its braces (e.g. inference windows thinner than
  the training patch).
* ``stride_schedule``: the anisotropic down-sampling plan. In-plane axes are always halved; the
  slice axis only when the result is even-divisible and keeps >= ``min_depth`` slices, so a
  16- or 20-slice patch is never reduced to 1-2 slices (InstanceNorm is undefined at 1 voxel).
* ``ConvNormAct`` and ``Upsample``: conv + InstanceNorm3d(affine) + activation, and the two
  upsampling flavours (interpolation + conv, the checkerboard-free default, or transposed conv).

Hand-written rather than MONAI's ``Convolution``/``UpSample`` because every conv here must be a
``SafeConv3d`` and strides are per-level anisotropic tuples computed from the patch size.
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from torch import nn

Triple = tuple[int, int, int]

#: A feature map with at most this many slices is convolved in fp32.
FP32_MAX_DEPTH = 2


def _needs_fp32(x: torch.Tensor) -> bool:
    """True when ``x`` (B, C, D, H, W) is shallow and would otherwise run in reduced precision."""
    if x.dim() != 5 or x.shape[2] > FP32_MAX_DEPTH:
        return False
    return x.dtype != torch.float32 or torch.is_autocast_enabled(x.device.type)


#: PyTorch's CPU conv dispatch (aten Convolution.cpp, ``ConvParams::use_mkldnn``) sends an fp32
#: batch-1 input with a <= 3 kernel to the single-threaded reference ``slow_conv3d`` unless
#: N * C * D * H > 20480. With thin slabs (D = 16-20) that is most layers of a 3D U-Net, and the
#: reference path is 3-5x slower than oneDNN (measured here: 16 ch, 16x64x64, fwd+bwd 0.60 s vs
#: 0.13 s). Convolution commutes with a joint permutation of the spatial axes of input, weight,
#: stride, padding and dilation, so ``SafeConv3d`` puts the thinnest axis last when that moves
#: the layer onto oneDNN. Results are equal up to float rounding; the public layout is unchanged.
MKLDNN_MIN_NCDH = 20480


def onednn_axis_order(x: torch.Tensor) -> tuple[int, int, int] | None:
    """Spatial axis order (a permutation of 2, 3, 4) that routes an fp32 CPU conv to oneDNN.

    None when no permutation is needed (already oneDNN: batch > 1 or large enough) or none helps,
    and on non-CPU devices, non-fp32 inputs or under autocast (those have their own dispatch).
    """
    if x.device.type != "cpu" or x.dim() != 5 or x.dtype != torch.float32 or x.shape[0] > 1:
        return None
    if torch.is_autocast_enabled("cpu"):
        return None
    n, c = x.shape[0], x.shape[1]
    if n * c * x.shape[2] * x.shape[3] > MKLDNN_MIN_NCDH:
        return None
    order = tuple(sorted((2, 3, 4), key=lambda a: -x.shape[a]))
    if n * c * x.shape[order[0]] * x.shape[order[1]] <= MKLDNN_MIN_NCDH:
        return None
    return order  # type: ignore[return-value]


class SafeConv3d(nn.Conv3d):
    """``nn.Conv3d`` that runs in fp32 with autocast disabled when the input depth is <= 2, and
    that permutes spatial axes so fp32 CPU convs use oneDNN (see ``onednn_axis_order``).

    Input (B, C_in, D, H, W) -> output (B, C_out, D', H', W'); output is fp32 on the safe path.
    ``onednn_permute`` (default True; per module via :func:`set_onednn_permute`) switches the
    axis permutation off, e.g. for the benchmark's plain-PyTorch reference.
    """

    #: Permute spatial axes so thin-slab fp32 CPU convs run on oneDNN (see ``onednn_axis_order``).
    onednn_permute: bool = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102 - see class docstring
        if _needs_fp32(x):
            with torch.autocast(device_type=x.device.type, enabled=False):
                return super().forward(x.float())
        return super().forward(x)

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if isinstance(self.padding, str):
            return super()._conv_forward(x, weight, bias)
        padding: Sequence[int] = self.padding
        if self.padding_mode != "zeros":
            x = F.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            padding = (0, 0, 0)
        order = onednn_axis_order(x) if self.onednn_permute else None
        if order is None:
            return F.conv3d(x, weight, bias, self.stride, padding, self.dilation, self.groups)
        perm = (0, 1, *order)
        inverse = tuple(perm.index(i) for i in range(5))

        def axes(t: Sequence[int]) -> tuple[int, ...]:
            return tuple(t[a - 2] for a in order)

        y = F.conv3d(x.permute(perm), weight.permute(perm), bias, axes(self.stride), axes(padding),
                     axes(self.dilation), self.groups)
        return y.permute(inverse)


def set_onednn_permute(net: nn.Module, enabled: bool) -> int:
    """Switch the oneDNN axis permutation of every ``SafeConv3d`` in ``net`` on or off.

    Numerics are unchanged (equal up to float rounding); only the CPU conv kernel differs
    (``aten::mkldnn_convolution`` vs ``aten::slow_conv3d_forward`` for thin batch-1 maps).
    Returns the number of convs switched.
    """
    n = 0
    for m in net.modules():
        if isinstance(m, SafeConv3d):
            m.onednn_permute = bool(enabled)
            n += 1
    return n


class SafeConvTranspose3d(nn.ConvTranspose3d):
    """``nn.ConvTranspose3d`` with the same depth <= 2 fp32 rule as ``SafeConv3d``."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:  # noqa: D102
        if _needs_fp32(x):
            with torch.autocast(device_type=x.device.type, enabled=False):
                return super().forward(x.float(), output_size)
        return super().forward(x, output_size)


def stride_schedule(size: Sequence[int], levels: int, min_depth: int) -> list[Triple]:
    """Per-level strides for ``levels`` halvings of a (D, H, W) input.

    The slice axis is halved at a level only if its current size is even and the result keeps
    >= ``min_depth`` slices; in-plane axes are halved at every level. E.g. (20, 256, 256),
    4 levels, min_depth 4 -> [(2,2,2), (2,2,2), (1,2,2), (1,2,2)] (20 -> 10 -> 5 slices).
    """
    d = int(size[0])
    out: list[Triple] = []
    for _ in range(levels):
        sd = 2 if d % 2 == 0 and d // 2 >= min_depth else 1
        d //= sd
        out.append((sd, 2, 2))
    return out


def schedule_divisor(strides: Sequence[Triple]) -> Triple:
    """Product of the strides per axis: what each input dimension must be divisible by."""
    div = [1, 1, 1]
    for s in strides:
        div = [a * b for a, b in zip(div, s)]
    return (div[0], div[1], div[2])


def norm_layer(kind: Literal["instance", "none"], channels: int) -> nn.Module:
    """InstanceNorm3d(affine=True) or identity."""
    if kind == "instance":
        return nn.InstanceNorm3d(channels, affine=True)
    return nn.Identity()


def activation(kind: Literal["leakyrelu", "relu"]) -> nn.Module:
    """LeakyReLU(0.2) (encoder, discriminator) or ReLU (decoder), as in the original CycleGAN."""
    return nn.LeakyReLU(0.2, inplace=True) if kind == "leakyrelu" else nn.ReLU(inplace=True)


class ConvNormAct(nn.Sequential):
    """Conv3d (kernel k, stride s, 'same'-style padding) -> norm -> activation.

    (B, C_in, D, H, W) -> (B, C_out, D/s_d, H/s_h, W/s_w) for stride-2 axes of even size.
    The conv has no bias when followed by an affine InstanceNorm (it would be cancelled).
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        *,
        kernel: int = 3,
        stride: Triple = (1, 1, 1),
        norm: Literal["instance", "none"] = "instance",
        act: Literal["leakyrelu", "relu"] = "leakyrelu",
        padding_mode: str = "zeros",
    ) -> None:
        conv = SafeConv3d(
            c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=norm == "none", padding_mode=padding_mode
        )
        super().__init__(conv, norm_layer(norm, c_out), activation(act))


class Upsample(nn.Module):
    """Up-sample (B, C_in, D, H, W) by ``scale`` per axis to (B, C_out, D*s_d, H*s_h, W*s_w).

    ``mode="interp"``: nearest-neighbour upsampling then a 3x3x3 conv (no checkerboard artefacts,
    Odena et al. 2016); ``mode="transpose"``: a transposed conv with kernel = stride = ``scale``
    (the report's choice; each output voxel sees one kernel tap, hence the checkerboard).
    Followed by norm + ReLU.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        scale: Triple,
        *,
        mode: Literal["interp", "transpose"] = "interp",
        norm: Literal["instance", "none"] = "instance",
    ) -> None:
        super().__init__()
        self.scale = tuple(int(s) for s in scale)
        self.mode = mode
        bias = norm == "none"
        if mode == "interp":
            self.conv: nn.Module = SafeConv3d(c_in, c_out, 3, padding=1, bias=bias)
        elif mode == "transpose":
            self.conv = SafeConvTranspose3d(c_in, c_out, self.scale, stride=self.scale, bias=bias)
        else:
            raise ValueError(f"unknown upsample mode {mode!r}")
        self.post = nn.Sequential(norm_layer(norm, c_out), activation("relu"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102 - see class docstring
        if self.mode == "interp":
            if self.scale != (1, 1, 1):
                x = F.interpolate(x, scale_factor=self.scale, mode="nearest")
            x = self.conv(x)
        else:
            x = self.conv(x)
        return self.post(x)


def check_divisible(x: torch.Tensor, divisor: Triple, name: str) -> None:
    """Raise ValueError if the spatial dims of ``x`` (B, C, D, H, W) are not multiples of ``divisor``."""
    dims = tuple(x.shape[2:])
    if len(dims) != 3 or any(n % d for n, d in zip(dims, divisor)):
        raise ValueError(
            f"{name}: input spatial size {dims} must be (B, C, D, H, W) with D, H, W divisible by {divisor}"
        )
