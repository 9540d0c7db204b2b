"""Intensity branch (nets/intensity.py): per-voxel, added to the logits, seeded init, learns a map."""

import pytest
import torch

from cyclescan.config import load_config
from cyclescan.nets.intensity import IntensityBranch
from cyclescan.nets.registry import build_generator

BASE = ["generator.base_channels=4", "generator.depth=2", "generator.air_gate=false"]
PATCH = [8, 16, 16]


def _gen(arch: str, hidden: int, seed: int = 0):
    cfg = load_config(None, [*BASE, f"generator.arch={arch}", f"generator.intensity_branch={hidden}",
                             "generator.n_res_blocks=1"])
    return build_generator(cfg, PATCH, generator=torch.Generator().manual_seed(seed))


def test_branch_is_pointwise():
    b = IntensityBranch(8)
    x = torch.rand(1, 1, 4, 8, 8) * 2 - 1
    y = b(x)
    # the same value anywhere gives the same output; permuting voxels permutes outputs
    perm = torch.randperm(x.numel())
    y_perm = b(x.reshape(-1)[perm].reshape(x.shape))
    torch.testing.assert_close(y_perm.reshape(-1), y.reshape(-1)[perm])


@pytest.mark.parametrize("arch", ["unet", "resnet"])
def test_generator_output_is_tanh_of_body_plus_branch(arch):
    g = _gen(arch, 8)
    assert g.intensity is not None
    x = torch.rand(1, 1, *PATCH) * 2 - 1
    branch = g.intensity
    with torch.no_grad():
        with_branch = g(x)
        g.intensity = None
        body = g(x)
        g.intensity = branch
    torch.testing.assert_close(with_branch, torch.tanh(torch.atanh(body.clamp(-1 + 1e-6, 1 - 1e-6)) + branch(x)),
                               atol=2e-4, rtol=1e-3)


def test_branch_off_by_default_and_state_dict_keys():
    off, on = _gen("unet", 0), _gen("unet", 8)
    assert off.intensity is None
    extra = set(on.state_dict()) - set(off.state_dict())
    assert extra and all(k.startswith("intensity.") for k in extra)


def test_branch_init_is_seeded_and_not_tiny():
    a, b, c = _gen("unet", 16, 0), _gen("unet", 16, 0), _gen("unet", 16, 1)
    wa, wb, wc = (torch.cat([p.flatten() for p in g.intensity.parameters()]) for g in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    x = torch.linspace(-1, 1, 64).reshape(1, 1, 1, 8, 8)
    assert a.intensity(x).std() > 0.01  # default-style init, not the GAN N(0, 0.02)


def test_branch_alone_fits_an_inverting_intensity_map():
    # fat-like inversion: bright -> dark, mid -> bright; a 1x1x1 MLP learns it in a few hundred steps
    torch.manual_seed(0)
    b = IntensityBranch(16)
    from cyclescan.nets.init import init_pointwise_mlp

    init_pointwise_mlp(b, torch.Generator().manual_seed(0))
    x = torch.rand(1, 1, 4, 16, 16) * 2 - 1
    target = torch.clamp(-1.6 * x * x + 0.6, -0.95, 0.95)
    opt = torch.optim.Adam(b.parameters(), lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        loss = (torch.tanh(b(x)) - target).abs().mean()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
