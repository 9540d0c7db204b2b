"""bf16 depth-2 safety, CycleGAN init, parameter/FLOP counts, channels_last."""

from __future__ import annotations

import pytest
import torch

from cyclescan.config import Config
from cyclescan.nets import (
    SafeConv3d,
    SafeConvTranspose3d,
    build_discriminator,
    build_generator,
    count_flops,
    count_parameters,
    init_weights,
    to_memory_format,
)


def _weight_grad(conv: torch.nn.Module, x: torch.Tensor, bf16: bool) -> tuple[torch.Tensor, torch.dtype]:
    conv.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        y = conv(x)
    (y.float() ** 2).mean().backward()
    return conv.weight.grad.clone(), y.dtype


@pytest.mark.parametrize("cls", [SafeConv3d, SafeConvTranspose3d])
def test_depth2_conv_under_bf16_autocast_matches_fp32(cls):
    torch.manual_seed(0)
    kw = {"padding": 1} if cls is SafeConv3d else {"stride": 1, "padding": 1}
    conv = cls(8, 8, 3, **kw)
    x = torch.randn(2, 8, 2, 12, 12)
    g32, _ = _weight_grad(conv, x, bf16=False)
    g16, dtype = _weight_grad(conv, x, bf16=True)
    assert dtype == torch.float32  # the safe path ran in fp32
    assert torch.isfinite(g16).all()
    torch.testing.assert_close(g16, g32, rtol=1e-5, atol=1e-6)
    # bf16 inputs coming from a previous autocast layer are also upcast
    g16b, _ = _weight_grad(conv, x.to(torch.bfloat16), bf16=True)
    assert torch.isfinite(g16b).all()
    torch.testing.assert_close(g16b, g32, rtol=2e-2, atol=1e-3)


def test_deeper_maps_still_use_bf16():
    conv = SafeConv3d(4, 4, 3, padding=1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert conv(torch.randn(1, 4, 3, 8, 8)).dtype == torch.bfloat16
    assert conv(torch.randn(1, 4, 2, 8, 8)).dtype == torch.float32  # no autocast: untouched


def test_init_normal_002():
    torch.manual_seed(0)
    cfg = Config()
    cfg.generator.base_channels = 8
    cfg.generator.depth = 2
    net = build_generator(cfg, [16, 32, 32])
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv3d)]
    w = torch.cat([m.weight.detach().flatten() for m in convs])
    assert w.numel() > 10_000
    assert w.mean().abs() < 1e-3
    assert float(w.std()) == pytest.approx(0.02, rel=0.05)
    assert all(m.bias is None or torch.all(m.bias == 0) for m in convs)
    norms = torch.cat([m.weight.detach().flatten() for m in net.modules() if isinstance(m, torch.nn.InstanceNorm3d)])
    assert float(norms.mean()) == pytest.approx(1.0, abs=0.01)


def test_init_reproducible_with_generator():
    a = init_weights(torch.nn.Conv3d(2, 3, 3), generator=torch.Generator().manual_seed(5))
    b = init_weights(torch.nn.Conv3d(2, 3, 3), generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.weight, b.weight)


def test_count_parameters_and_flops_by_hand():
    conv = torch.nn.Conv3d(1, 4, 3, padding=1)
    assert count_parameters(conv) == 4 * 27 + 4
    # 2 FLOPs per multiply-add: out elements (4*4*8*8) x C_in*k^3 (27)
    assert count_flops(conv, (1, 1, 4, 8, 8)) == 2 * 4 * 4 * 8 * 8 * 27


def test_count_flops_networks_and_untouched_state():
    cfg = Config()
    cfg.generator.base_channels = cfg.discriminator.base_channels = 4
    cfg.discriminator.spectral_norm = True
    g = build_generator(cfg, [16, 32, 32])
    d = build_discriminator(cfg, [16, 32, 32])
    before = {k: v.clone() for k, v in d.state_dict().items()}
    assert count_flops(g, (1, 1, 16, 32, 32)) > 0
    assert count_flops(d, (1, 1, 16, 32, 32)) > 0
    assert d.training
    assert all(torch.equal(before[k], v) for k, v in d.state_dict().items())
    assert next(g.parameters()).device.type == "cpu"


def test_channels_last_same_output():
    cfg = Config()
    cfg.generator.base_channels = 4
    cfg.generator.depth = 2
    net = build_generator(cfg, [8, 16, 16])
    x = torch.randn(1, 1, 8, 16, 16)
    ref = net(x)
    to_memory_format(net, True)
    y = net(x.contiguous(memory_format=torch.channels_last_3d))
    torch.testing.assert_close(y, ref, rtol=1e-4, atol=1e-5)
