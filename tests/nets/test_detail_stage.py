"""Experimental in-network detail transfer (nets/detail_stage.py, generator.detail_sigma_vox)."""

from __future__ import annotations

import numpy as np
import torch

from cyclescan.config import Config
from cyclescan.nets import build_generator
from cyclescan.nets.detail_stage import DetailStage


def test_a_positive_affine_map_of_the_source_is_reproduced_and_air_stays_air():
    torch.manual_seed(0)
    x = torch.rand(1, 1, 6, 24, 24) * 1.6 - 0.8
    x[..., :4] = -1.0  # air
    y = 0.5 * (x + 1.0) - 1.0  # the target is half the source's signal above the floor
    out = DetailStage((0.4, 1.25, 1.25))(x, y)
    np.testing.assert_allclose(out.numpy(), y.numpy(), atol=5e-3)
    assert torch.all(out[..., :4] == -1.0)


def test_blur_is_a_normalized_separable_gaussian():
    stage = DetailStage((0.0, 1.0, 2.0))
    v = torch.zeros(1, 1, 3, 21, 21)
    v[0, 0, 1, 10, 10] = 1.0
    b = stage.blur(v)
    assert abs(float(b.sum()) - 1.0) < 1e-5
    assert torch.all(b[0, 0, 0] == 0) and torch.all(b[0, 0, 2] == 0)  # sigma 0 along D: no mixing
    row, col = b[0, 0, 1, 10], b[0, 0, 1, :, 10]
    assert float(row.max()) == float(b.max()) and float(row[12]) > float(col[12])  # W wider than H


def test_generator_with_it_trains_and_keeps_its_state_dict_keys():
    base = ["generator.base_channels=4", "generator.depth=2", "data.patch_size=[8,16,16]"]
    plain = build_generator(Config().with_overrides(base), [8, 16, 16])
    g = build_generator(Config().with_overrides(base + ["generator.detail_sigma_vox=[0.4,1.25,1.25]"]), [8, 16, 16])
    assert list(g.state_dict()) == list(plain.state_dict())  # loads plain checkpoints and back
    x = (torch.rand(1, 1, 8, 16, 16) * 2 - 1).requires_grad_(True)
    out = g(x)
    assert out.shape == x.shape and float(out.detach().min()) >= -1.0 and float(out.detach().max()) <= 1.0
    out.mean().backward()
    grads = [p.grad for p in g.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(t).all() for t in grads)
    assert any(float(t.abs().sum()) > 0 for t in grads)


def test_resnet_generator_gets_it_too():
    cfg = Config().with_overrides(["generator.arch=resnet", "generator.base_channels=4", "generator.depth=2",
                                   "generator.n_res_blocks=1", "data.patch_size=[8,16,16]",
                                   "generator.detail_sigma_vox=[0.4,1.25,1.25]"])
    assert isinstance(build_generator(cfg, [8, 16, 16]).detail, DetailStage)
