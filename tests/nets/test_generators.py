"""Generators: anisotropic schedule, shapes, output range, registry, divisibility errors."""

from __future__ import annotations

import pytest
import torch

from cyclescan.config import Config
from cyclescan.errors import ConfigError
from cyclescan.nets import (
    ResNetGenerator3d,
    SafeConv3d,
    UNet3d,
    build_generator,
    required_divisor,
    stride_schedule,
)


def tiny_cfg(arch: str = "unet", upsample: str = "interp", depth: int = 3) -> Config:
    cfg = Config()
    g = cfg.generator
    g.arch, g.upsample, g.base_channels, g.depth, g.n_res_blocks = arch, upsample, 4, depth, 1
    return cfg


def test_schedule_report_patch_20_slices():
    assert stride_schedule([20, 256, 256], 4, 4) == [(2, 2, 2), (2, 2, 2), (1, 2, 2), (1, 2, 2)]
    assert stride_schedule([16, 256, 256], 4, 4) == [(2, 2, 2), (2, 2, 2), (1, 2, 2), (1, 2, 2)]
    assert stride_schedule([64, 64, 64], 3, 4) == [(2, 2, 2)] * 3
    assert stride_schedule([3, 64, 64], 2, 4) == [(1, 2, 2)] * 2  # already thinner than min_depth


@pytest.mark.parametrize("min_depth", [3, 4, 6])
def test_schedule_never_below_min_depth(min_depth):
    for d0 in range(1, 70):
        d = d0
        for sd, sh, sw in stride_schedule([d0, 512, 512], 6, min_depth):
            assert (sh, sw) == (2, 2)  # in-plane always pooled
            assert sd in (1, 2) and d % sd == 0
            d //= sd
            if sd == 2:
                assert d >= min_depth
        assert d >= min(d0, min_depth)


def _conv_input_depths(net: torch.nn.Module, x: torch.Tensor) -> list[int]:
    depths: list[int] = []
    hooks = [
        m.register_forward_pre_hook(lambda _m, inp: depths.append(inp[0].shape[2]))
        for m in net.modules()
        if isinstance(m, SafeConv3d)
    ]
    net(x)
    for h in hooks:
        h.remove()
    return depths


@pytest.mark.parametrize("arch", ["unet", "resnet"])
def test_20_slice_patch_never_pooled_below_min_depth(arch):
    cfg = tiny_cfg(arch, depth=3)
    net = build_generator(cfg, [20, 32, 32])
    depths = _conv_input_depths(net, torch.randn(1, 1, 20, 32, 32))
    assert min(depths) == 5  # 20 -> 10 -> 5, then in-plane only
    assert required_divisor(cfg.generator, [20, 32, 32]) == (4, 8, 8)


@pytest.mark.parametrize("arch,cls", [("unet", UNet3d), ("resnet", ResNetGenerator3d)])
@pytest.mark.parametrize("upsample", ["interp", "transpose"])
def test_generator_shape_and_tanh_range(arch, cls, upsample):
    net = build_generator(tiny_cfg(arch, upsample, depth=2), [16, 32, 32])
    assert isinstance(net, cls)
    x = 50.0 * torch.randn(2, 1, 16, 32, 32)  # far outside [-1, 1]: output must still be bounded
    y = net(x)
    assert y.shape == x.shape
    assert y.abs().max() <= 1.0
    assert y.std() > 0


def test_required_divisor_matches_schedule_and_errors():
    cfg = tiny_cfg(depth=4)
    assert required_divisor(cfg, [20, 256, 256]) == (4, 16, 16)
    with pytest.raises(ConfigError, match="patch_size"):
        build_generator(cfg, [16, 40, 40])  # 40 not divisible by 16
    net = build_generator(tiny_cfg(depth=2), [16, 32, 32])
    with pytest.raises(ValueError, match="divisible"):
        net(torch.zeros(1, 1, 16, 30, 32))


def test_unet_handles_other_window_sizes():
    """Built for a 16-slice patch, the net runs on any window divisible by its divisor."""
    net = build_generator(tiny_cfg(depth=2), [16, 32, 32])
    assert net(torch.zeros(1, 1, 8, 16, 48)).shape == (1, 1, 8, 16, 48)


def test_interp_upsample_has_no_transposed_conv():
    interp = build_generator(tiny_cfg(upsample="interp"), [16, 32, 32])
    trans = build_generator(tiny_cfg(upsample="transpose"), [16, 32, 32])
    assert not any(isinstance(m, torch.nn.ConvTranspose3d) for m in interp.modules())
    assert any(isinstance(m, torch.nn.ConvTranspose3d) for m in trans.modules())


@pytest.mark.parametrize("net,arch,upsample,branch,spectral_norm", [
    ("G", "unet", "interp", False, False), ("G", "unet", "transpose", False, False),
    ("G", "resnet", "interp", False, False), ("G", "unet", "interp", True, False),
    ("D", "unet", "interp", False, False), ("D", "unet", "interp", False, True),
])
def test_every_conv_of_every_net_is_a_safe_conv(net, arch, upsample, branch, spectral_norm):
    """The bf16 depth <= 2 guard lives in SafeConv3d / SafeConvTranspose3d: a plain nn.Conv3d
    anywhere in a built network would bypass it (oneDNN's wrong depth-2 gradients).
    ``branch``: the intensity branch + log-ratio output; ``spectral_norm``: PatchGAN's option."""
    from torch.nn.modules.conv import _ConvNd

    from cyclescan.nets import SafeConvTranspose3d, build_discriminator

    cfg = tiny_cfg(arch=arch, upsample=upsample)
    if branch:
        cfg.generator.intensity_branch, cfg.generator.output = 4, "log_ratio"
    cfg.discriminator.base_channels, cfg.discriminator.n_layers = 4, 2
    cfg.discriminator.spectral_norm = spectral_norm
    module = build_discriminator(cfg, [8, 32, 32]) if net == "D" else build_generator(cfg, [8, 32, 32])
    convs = [m for m in module.modules() if isinstance(m, _ConvNd)]
    assert convs and all(isinstance(m, (SafeConv3d, SafeConvTranspose3d)) for m in convs), \
        sorted({type(m).__name__ for m in convs})
