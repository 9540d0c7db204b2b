"""Air gate (nets/gate.py): source air -> exactly -1, tissue untouched, noise specks ignored."""

import torch

from cyclescan.config import load_config
from cyclescan.nets.gate import AirGate
from cyclescan.nets.registry import build_generator


def _source():
    x = torch.full((1, 1, 4, 16, 16), -1.0)
    x[..., 4:12, 4:12] = 0.2  # tissue block
    x[0, 0, 1, 1, 14] = 0.9  # isolated noise voxel in the air
    return x


def test_gate_outputs_floor_in_air_and_passes_tissue():
    gate = AirGate(margin=0.02)
    x = _source()
    y = torch.rand_like(x) * 2 - 1
    out = gate(x, y)
    m = gate.mask(x)
    assert torch.equal(out[m == 0], torch.full_like(out[m == 0], -1.0))
    assert torch.equal(out[m == 1], y[m == 1])
    assert m[0, 0, :, 5:11, 5:11].sum() >= 4 * 6 * 6 - 4  # the block interior is tissue
    assert m[0, 0, 1, 1, 14] == 0  # the noise speck in the air is removed by the opening
    assert m[0, 0, :, 0, 0].sum() == 0 and m[0, 0, :, 15, 15].sum() == 0


def test_gate_gradient_is_zero_in_air_only():
    gate = AirGate()
    x = _source()
    y = torch.zeros_like(x, requires_grad=True)
    gate(x, y).sum().backward()
    m = gate.mask(x)
    assert torch.equal(y.grad, m)


def test_gated_generator_keeps_state_dict_and_only_changes_air():
    cfg_on = load_config(None, ["generator.base_channels=4", "generator.depth=2", "generator.air_gate=true"])
    cfg_off = load_config(None, ["generator.base_channels=4", "generator.depth=2", "generator.air_gate=false"])
    patch = [8, 16, 16]
    g_on = build_generator(cfg_on, patch, generator=torch.Generator().manual_seed(0))
    g_off = build_generator(cfg_off, patch, generator=torch.Generator().manual_seed(0))
    assert g_on.state_dict().keys() == g_off.state_dict().keys()  # parameter-free: checkpoints match
    x = torch.full((1, 1, *patch), -1.0)
    x[..., 2:14, 2:14] = torch.linspace(-0.5, 0.8, 12)
    with torch.no_grad():
        y_on, y_off = g_on(x), g_off(x)
    m = g_on.air_gate.mask(x).bool()
    assert torch.allclose(y_on[m], y_off[m])
    assert torch.all(y_on[~m] == -1.0) and not torch.all(y_off[~m] == -1.0)
