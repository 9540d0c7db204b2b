"""translate_volume: geometry preserved exactly, intensities on the target domain's scale."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from cyclescan.data.normalize import denormalize, fit_stats, foreground_mask, normalize
from cyclescan.errors import InputError
from cyclescan.infer.translate import translate_volume
from cyclescan.io.volume import Volume

from .conftest import STATS_B, knee_like, oblique_affine


def _cfg(cfg, **data):
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, **data))


def test_identity_generator_maps_own_window_onto_target_window(tiny_cfg):
    """With G = identity the output is denormalize(normalize(x, own stats), target stats), voxel for
    voxel in the input's layout (orientation undone exactly) and its percentiles are the target's."""
    cfg = _cfg(tiny_cfg, norm_foreground_mask=False)
    x = knee_like((10, 24, 20))
    vol = Volume(x, oblique_affine(), {"path": "mem.nii.gz"})
    out = translate_volume(vol, torch.nn.Identity(), cfg, STATS_B, divisor=1)
    assert out.shape == vol.shape and out.array.dtype == np.float32
    np.testing.assert_array_equal(out.affine, vol.affine)
    own = fit_stats(x, cfg.data.norm_lower_percentile, cfg.data.norm_upper_percentile)
    np.testing.assert_allclose(out.array, denormalize(normalize(x, own), STATS_B), rtol=1e-5, atol=1e-2)
    lo, hi = np.percentile(out.array, [cfg.data.norm_lower_percentile, cfg.data.norm_upper_percentile])
    span = STATS_B.hi - STATS_B.lo
    assert abs(lo - STATS_B.lo) < 1e-3 * span and abs(hi - STATS_B.hi) < 1e-3 * span
    assert out.meta["translated"] and out.meta["path"] == "mem.nii.gz"


def test_identity_with_foreground_mask_matches_target_inside_mask(tiny_cfg):
    x = knee_like((10, 24, 20), seed=3)
    out = translate_volume(Volume(x, np.eye(4)), torch.nn.Identity(), tiny_cfg, STATS_B, divisor=1)
    m = foreground_mask(x)
    lo, hi = np.percentile(out.array[m], [0.5, 99.5])
    span = STATS_B.hi - STATS_B.lo
    assert abs(lo - STATS_B.lo) < 0.01 * span and abs(hi - STATS_B.hi) < 0.01 * span


def test_real_generator_keeps_geometry_on_the_pad_path(tiny_cfg, tiny_ckpt):
    from cyclescan.train.checkpoint import build_generator_from_checkpoint, load_checkpoint

    gen = build_generator_from_checkpoint(load_checkpoint(tiny_ckpt), "a2b")
    # Smaller than the window along D (pad path) and not a multiple of the divisor in-plane.
    vol = Volume(knee_like((5, 27, 19)), oblique_affine(), {"path": "small.nii.gz"})
    out = translate_volume(vol, gen, tiny_cfg, STATS_B)
    assert out.shape == vol.shape
    np.testing.assert_array_equal(out.affine, vol.affine)
    assert np.isfinite(out.array).all() and out.array.std() > 0
    # (No range assert: a tanh output denormalized to [lo, hi] cannot leave it. The target scale is
    # pinned by test_identity_* above and test_engine's test_output_is_in_the_target_domains_*.)


def test_progress_counts_every_window(tiny_cfg):
    class Bar:
        total, n = None, 0

        def reset(self, total):
            self.total, self.n = total, 0

        def update(self, k):
            self.n += k

    bar = Bar()
    translate_volume(Volume(knee_like((10, 40, 20)), np.eye(4)), torch.nn.Identity(), tiny_cfg, STATS_B,
                     divisor=1, progress=bar)
    assert bar.total == bar.n > 1


def test_nan_input_is_a_clear_input_error(tiny_cfg):
    x = knee_like((6, 16, 16))
    x[2, 3, 4] = np.nan
    with pytest.raises(InputError, match="bad.nii.gz.*NaN"):
        translate_volume(Volume(x, np.eye(4), {"path": "bad.nii.gz"}), torch.nn.Identity(), tiny_cfg, STATS_B,
                         divisor=1)
