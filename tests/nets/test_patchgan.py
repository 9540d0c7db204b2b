"""PatchGAN: score-map shape, anisotropic strides, dropout and spectral norm options."""

from __future__ import annotations

import pytest
import torch

from cyclescan.config import Config
from cyclescan.nets import PatchGAN3d, build_discriminator, discriminator_divisor


def d_cfg(**kw) -> Config:
    cfg = Config()
    cfg.discriminator.base_channels = 4
    for k, v in kw.items():
        setattr(cfg.discriminator, k, v)
    return cfg


@pytest.mark.parametrize(
    "patch,n_layers,expected",
    [([16, 32, 32], 3, (4, 4, 4)), ([20, 32, 32], 3, (5, 4, 4)), ([20, 64, 64], 2, (5, 16, 16))],
)
def test_output_shape(patch, n_layers, expected):
    net = build_discriminator(d_cfg(n_layers=n_layers), patch)
    assert isinstance(net, PatchGAN3d)
    y = net(torch.randn(2, 1, *patch))
    assert y.shape == (2, 1, *expected)
    assert net.output_shape(patch) == expected
    assert tuple(p // e for p, e in zip(patch, expected)) == discriminator_divisor(d_cfg(n_layers=n_layers), patch)


def test_first_layer_has_no_norm_and_leaky_slope():
    net = build_discriminator(d_cfg(), [16, 32, 32])
    layers = list(net.model)
    assert isinstance(layers[0], torch.nn.Conv3d) and isinstance(layers[1], torch.nn.LeakyReLU)
    assert all(m.negative_slope == 0.2 for m in net.modules() if isinstance(m, torch.nn.LeakyReLU))
    assert sum(isinstance(m, torch.nn.InstanceNorm3d) for m in net.modules()) == 3


def test_dropout_option_changes_training_output_only():
    net = build_discriminator(d_cfg(dropout=0.5), [16, 32, 32])
    assert sum(isinstance(m, torch.nn.Dropout) for m in net.modules()) == 3
    x = torch.randn(1, 1, 16, 32, 32)
    net.eval()
    assert torch.equal(net(x), net(x))
    net.train()
    torch.manual_seed(0)
    a = net(x)
    torch.manual_seed(1)
    assert not torch.equal(a, net(x))


def test_spectral_norm_bounds_conv_norms():
    net = build_discriminator(d_cfg(spectral_norm=True), [16, 32, 32])
    x = torch.randn(1, 1, 16, 32, 32)
    for _ in range(30):  # power iterations converge during training-mode forwards
        net(x)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv3d)]
    assert convs and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in convs)
    for m in convs:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, rel=0.05)
