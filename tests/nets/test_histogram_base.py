"""Histogram base (nets/quantile_map.QuantileMap): generators start at the monotone map, keep the
table in their state dict (so translation needs nothing else), and CycleGAN sets it from the
training quantiles."""

import numpy as np
import pytest
import torch

from cyclescan.config import load_config
from cyclescan.data.histogram import GRID, quantile_map_table
from cyclescan.nets.quantile_map import QuantileMap
from cyclescan.nets.registry import build_generator

PATCH = [8, 16, 16]
Q = np.linspace(-1, 1, 64)
TABLE = quantile_map_table(Q, Q ** 3)  # y = x^3 on the foreground


def _cfg(arch: str, *extra: str):
    return load_config(None, ["generator.base_channels=4", "generator.depth=2", "generator.n_res_blocks=1",
                              "generator.air_gate=false", "generator.histogram_base=true", f"generator.arch={arch}",
                              *extra])


@pytest.mark.parametrize("arch", ["unet", "resnet"])
def test_generator_starts_at_the_quantile_map(arch):
    g = build_generator(_cfg(arch), PATCH, generator=torch.Generator().manual_seed(0))
    g.base.set_table(TABLE)
    x = torch.rand(1, 1, *PATCH) * 1.8 - 0.9
    with torch.no_grad():
        y = g(x)
    torch.testing.assert_close(y, x ** 3, atol=2e-3, rtol=0)  # 64-quantile interpolation of x^3


@pytest.mark.parametrize("arch", ["unet", "resnet"])
def test_table_travels_in_the_state_dict(arch):
    cfg = _cfg(arch)
    g = build_generator(cfg, PATCH, generator=torch.Generator().manual_seed(0))
    g.base.set_table(TABLE)
    assert "base.table" in g.state_dict()  # the key checkpoints of every version carry
    with torch.no_grad():
        for p in g.parameters():  # a trained generator: the body is no longer zero at the output
            p.add_(0.01 * torch.randn_like(p))
    fresh = build_generator(cfg, PATCH, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(fresh.base.table, g.base.table)
    fresh.load_state_dict(g.state_dict())
    x = torch.rand(1, 1, *PATCH) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), g(x))


def test_base_is_the_atanh_of_the_mapped_value_and_air_is_very_negative():
    m = QuantileMap()
    m.set_table(TABLE)
    x = torch.tensor([-1.0, -0.5, 0.0, 0.5]).reshape(1, 1, 1, 1, 4)
    logits = m(x)
    mapped = torch.tensor([-1.0, -0.125, 0.0, 0.125])
    torch.testing.assert_close(torch.tanh(logits).flatten()[1:], mapped[1:], atol=2e-3, rtol=0)
    assert torch.tanh(logits).flatten()[0] < -0.998  # air stays at the floor
    with pytest.raises(ValueError, match="shape"):
        m.set_table(np.zeros(GRID - 1))


def test_cyclegan_sets_both_tables_from_the_reference():
    from cyclescan.train.cyclegan import CycleGAN

    cfg = _cfg("unet", "discriminator.base_channels=4", "discriminator.n_layers=2", "train.channels_last=false")
    with pytest.raises(ValueError, match="reference"):
        CycleGAN(cfg, PATCH)
    ref = {"a": torch.from_numpy(Q).float(), "b": torch.from_numpy(Q ** 3).float()}
    m = CycleGAN(cfg, PATCH, reference=ref)
    np.testing.assert_allclose(m.G_ab.base.table.numpy(), quantile_map_table(Q, Q ** 3), atol=1e-6)
    np.testing.assert_allclose(m.G_ba.base.table.numpy(), quantile_map_table(Q ** 3, Q), atol=1e-6)
