"""Log-ratio output (nets/log_ratio.py): the generator multiplies the source by exp(network), so a
per-tissue constant ratio inverts a tissue's level but keeps its texture and bias field."""

import math

import numpy as np
import pytest
import torch

from cyclescan.config import load_config
from cyclescan.errors import ConfigError
from cyclescan.nets.log_ratio import finish, log_ratio_output
from cyclescan.nets.registry import build_generator

PATCH = [8, 16, 16]


def _signal(t: torch.Tensor) -> torch.Tensor:
    return (t + 1) / 2


def test_ratio_scales_the_signal_below_saturation():
    s = torch.tensor([0.0, 0.05, 0.2, 0.4, 0.6]).reshape(1, 1, 1, 1, 5)
    x = 2 * s - 1
    for k in (0.25, 1.0, 1.1):
        out = _signal(log_ratio_output(torch.full_like(x, math.log(k)), x))
        torch.testing.assert_close(out, s * k, atol=2e-3 * k, rtol=3e-3)


def test_output_stays_in_model_space_with_finite_gradients():
    x = torch.linspace(-1, 1, 41).reshape(1, 1, 1, 1, 41)
    r = torch.linspace(-20, 20, 41).reshape(1, 1, 1, 1, 41).requires_grad_()
    y = log_ratio_output(r, x)
    assert float(y.detach().min()) >= -1.0 and float(y.detach().max()) <= 1.0
    y.sum().backward()
    assert torch.isfinite(r.grad).all()
    assert float(_signal(log_ratio_output(torch.tensor(5.0).reshape(1, 1, 1, 1, 1), torch.ones(1, 1, 1, 1, 1)))) > 0.999
    # air (s = 0) stays air whatever the ratio
    assert float(log_ratio_output(torch.full((1, 1, 1, 1, 1), 8.0), -torch.ones(1, 1, 1, 1, 1))) < -0.99


def test_inverting_a_tissue_keeps_its_texture_and_bias():
    """Two tissues, fat bright and muscle dim in the source, under one smooth multiplicative
    bias x texture field; the target has fat dark (ratio 0.2) and muscle brighter (1.5). A
    per-tissue constant log-ratio reproduces the target exactly, texture included: inside each
    tissue the output correlates +1 with the truth, where a level-only map would correlate 0."""
    g = torch.Generator().manual_seed(0)
    labels = (torch.arange(64) >= 32).reshape(1, 1, 1, 1, 64)       # False = fat, True = muscle
    modulation = 1 + 0.15 * torch.randn(1, 1, 1, 1, 64, generator=g)   # bias x texture, shared
    src = torch.where(labels, 0.3, 0.8) * modulation
    tgt = torch.where(labels, 0.45, 0.16) * modulation
    r = torch.where(labels, math.log(1.5), math.log(0.2)).expand_as(src)
    out = _signal(log_ratio_output(r, 2 * src - 1))
    torch.testing.assert_close(out, tgt, atol=3e-3, rtol=0)
    for k in (labels, ~labels):
        o, t = out[k].numpy(), tgt[k].numpy()
        assert np.corrcoef(o, t)[0, 1] > 0.999


def test_bf16_autocast_is_computed_in_float32():
    x = torch.rand(1, 1, 2, 4, 4) * 2 - 1
    r = torch.randn(1, 1, 2, 4, 4) * 0.5
    ref = log_ratio_output(r, x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = log_ratio_output(r.to(torch.bfloat16), x.to(torch.bfloat16))
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), ref, atol=2e-2, rtol=0)  # only the final cast rounds


def test_finish_modes():
    logits = torch.randn(1, 1, 1, 2, 2)
    x = torch.zeros(1, 1, 1, 2, 2)
    torch.testing.assert_close(finish(logits, x, "tanh"), torch.tanh(logits))
    torch.testing.assert_close(finish(logits, x, "log_ratio"), log_ratio_output(logits, x))
    with pytest.raises(ValueError, match="log_ratio"):
        finish(logits, x, "sigmoid")


@pytest.mark.parametrize("arch", ["unet", "resnet"])
def test_generator_starts_at_a_random_ratio_and_round_trips(arch):
    cfg = load_config(None, ["generator.base_channels=4", "generator.depth=2", "generator.n_res_blocks=1",
                             "generator.air_gate=false", "generator.output=log_ratio", f"generator.arch={arch}"])
    g = build_generator(cfg, PATCH, generator=torch.Generator().manual_seed(0))
    assert g.output == "log_ratio"
    x = torch.rand(1, 1, *PATCH) * 1.2 - 0.8          # signal 0.1 .. 0.7
    with torch.no_grad():
        y = g(x)
    # the head's LeCun init (not zero: the identity is a cycle-loss trap): a random ratio map
    log_ratio = torch.log(((y + 1) / 2).clamp_min(1e-6) / ((x + 1) / 2))
    assert torch.isfinite(log_ratio).all() and 0.05 < float(log_ratio.std()) < 3.0
    with torch.no_grad():
        for p in g.parameters():  # a "trained" generator: other weights than a fresh one
            p.add_(0.05 * torch.randn_like(p))
        y = g(x)
    assert not torch.allclose(y, x, atol=1e-3)
    fresh = build_generator(cfg, PATCH, generator=torch.Generator().manual_seed(1))
    fresh.load_state_dict(g.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), y)


def test_config_rejects_log_ratio_with_histogram_base():
    with pytest.raises(ConfigError, match="log_ratio"):
        load_config(None, ["generator.output=log_ratio", "generator.histogram_base=true"])
    with pytest.raises(ConfigError):
        load_config(None, ["generator.output=sigmoid"])
