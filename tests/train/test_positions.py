"""Position-aware discriminators (``discriminator.positions``): the position maps, their flips,
which position each fake is judged at, and a run that uses them end to end (and resumes exactly)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cyclescan.data.patches import augment, crop, foreground_box, position_map
from cyclescan.train import checkpoint as ck
from cyclescan.train.cyclegan import CycleGAN

from test_cyclegan import PATCH, batch, tiny_cfg
from test_resume import assert_resume_is_exact
from tiny_run import tiny_cfg as tiny_run_cfg


def test_foreground_box_by_hand():
    mask = np.zeros((6, 10, 12), bool)
    mask[1:4, 2:9, 5] = True
    mask[2, 7, 3] = True
    np.testing.assert_array_equal(foreground_box(mask), [[1, 2, 3], [3, 8, 5]])
    np.testing.assert_array_equal(foreground_box(np.zeros((6, 10, 12), bool)), [[0, 0, 0], [5, 9, 11]])


def test_position_map_by_hand():
    box = np.array([[2.0, 10.0, 0.0], [12.0, 30.0, 40.0]])  # lo, hi per axis
    pos = position_map((2, 20, 38), (3, 2, 4), box)
    assert pos.shape == (3, 3, 2, 4) and pos.dtype == np.float32
    np.testing.assert_allclose(pos[0, :, 0, 0], [-1.0, -0.8, -0.6])  # 2 (idx - 2) / 10 - 1
    np.testing.assert_allclose(pos[1, 0, :, 0], [0.0, 0.1])  # 2 (idx - 10) / 20 - 1
    np.testing.assert_allclose(pos[2, 0, 0, :], [0.9, 0.95, 1.0, 1.05])  # beyond the box: > 1
    assert np.all(pos[0] == pos[0, :, :1, :1])  # each channel varies along its own axis only


def test_flips_move_positions_with_the_voxels():
    """A volume whose value encodes its own (row, column): after random flips and jitter-free
    augmentation every voxel's position channel still names the voxel it came from."""
    shape, patch, start = (4, 12, 14), (4, 6, 8), (0, 3, 5)
    d, h, w = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    code = (h * 100 + w).astype(np.float32)
    box = np.array([[0.0, 0.0, 0.0], [3.0, 11.0, 13.0]])
    flipped_any = False
    for seed in range(8):
        rng = np.random.default_rng(seed)
        out, pos = augment(crop(code, start, patch), rng, flip_prob=0.5, jitter=0.0,
                           positions=position_map(start, patch, box))
        rows = np.rint((pos[1] + 1) / 2 * 11).astype(int)
        cols = np.rint((pos[2] + 1) / 2 * 13).astype(int)
        np.testing.assert_array_equal(out, rows * 100 + cols)
        flipped_any |= not np.array_equal(out, crop(code, start, patch))
    assert flipped_any


def test_augment_draws_the_same_flips_with_and_without_positions():
    patch = np.random.default_rng(0).uniform(-1, 1, (4, 6, 8)).astype(np.float32)
    pos = position_map((0, 0, 0), (4, 6, 8), np.array([[0.0] * 3, [3.0, 5.0, 7.0]]))
    for seed in range(6):
        a, none = augment(patch, np.random.default_rng(seed), 0.5, 0.05)
        b, _ = augment(patch, np.random.default_rng(seed), 0.5, 0.05, positions=pos)
        assert none is None and np.array_equal(a, b)


def _pos(seed: int) -> torch.Tensor:
    return torch.rand(1, 3, *PATCH, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_each_fake_is_judged_at_its_source_patch_position():
    cfg = tiny_cfg()
    cfg.discriminator.positions = True
    m = CycleGAN(cfg, PATCH)
    assert m.D_a.model[0].in_channels == 4 and m.D_b.model[0].in_channels == 4
    real_a, real_b = batch()
    pos_a, pos_b = _pos(1), _pos(2)
    seen = {}

    def spy(name, net):
        def hook(_module, args):
            seen.setdefault(name, []).append(args[0].detach().clone())
        net.register_forward_pre_hook(hook)

    spy("D_a", m.D_a)
    spy("D_b", m.D_b)
    _, _, fakes = m.generator_losses(real_a, real_b, pos_a, pos_b)
    (d_b_in,), (d_a_in,) = seen["D_b"], seen["D_a"]
    assert torch.equal(d_b_in[:, 1:], pos_a) and torch.allclose(d_b_in[:, :1], fakes["fake_b"])  # G_ab(a) at a's place
    assert torch.equal(d_a_in[:, 1:], pos_b) and torch.allclose(d_a_in[:, :1], fakes["fake_a"])
    seen.clear()
    m.step(real_a, real_b, autocast="fp32", pos_a=pos_a, pos_b=pos_b)
    # G pass (fake), then D pass: real then pooled fake; the pool stores image + position
    assert torch.equal(seen["D_a"][1][:, 1:], pos_a) and torch.equal(seen["D_a"][2][:, 1:], pos_b)
    assert torch.equal(seen["D_b"][1][:, 1:], pos_b) and torch.equal(seen["D_b"][2][:, 1:], pos_a)
    assert m.pool_a.images[0].shape == (4, *PATCH)


def test_positions_are_required_when_configured_and_ignored_when_not():
    cfg = tiny_cfg()
    cfg.discriminator.positions = True
    with pytest.raises(ValueError, match="pos_a"):
        CycleGAN(cfg, PATCH).step(*batch(), autocast="fp32")
    plain = CycleGAN(tiny_cfg(), PATCH)
    assert plain.D_a.model[0].in_channels == 1
    assert plain.d_input(batch()[0], _pos(1)).shape[1] == 1


def test_a_run_with_positions_trains_validates_and_resumes_exactly(tiny_dataset, tmp_path, monkeypatch):
    cfg = tiny_run_cfg("discriminator.positions=true", "train.epochs=2")
    straight = assert_resume_is_exact(cfg, tiny_dataset, tmp_path, monkeypatch)  # stopped mid-epoch 1
    last = ck.load_checkpoint(straight / "checkpoints" / "last.pt")
    assert last["nets"]["D_a"]["model.0.weight"].shape[1] == 4
    assert last["config"]["discriminator"]["positions"] is True
