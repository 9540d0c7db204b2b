"""Paired metrics on hand fixtures: known MSE -> PSNR, SSIM of identical volumes, MONAI vs
scikit-image SSIM agreement, masking, NCC and the metric-space normalization."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from monai.metrics import SSIMMetric
from scipy import ndimage

from cyclescan.metrics import paired


def _smooth_volume(seed: int, shape=(16, 24, 24)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = ndimage.gaussian_filter(rng.random(shape), 2.0)
    return ((v - v.min()) / (v.max() - v.min())).astype(np.float32)


def test_psnr_of_known_mse():
    truth = np.full((8, 8, 8), 0.5, np.float32)
    pred = truth + 0.1  # MSE = 0.01 -> PSNR = 10 log10(1 / 0.01) = 20 dB (data range 1)
    assert paired.psnr(pred, truth) == pytest.approx(20.0, abs=1e-4)
    pred2 = truth.copy()
    pred2[:4] += 0.2  # half the voxels off by 0.2 -> MSE 0.02
    assert paired.psnr(pred2, truth) == pytest.approx(10 * math.log10(1 / 0.02), abs=1e-4)
    assert paired.psnr(truth, truth) == math.inf


def test_ssim_identical_is_one_and_drops_with_noise():
    v = _smooth_volume(0)
    assert paired.ssim(v, v) == pytest.approx(1.0, abs=1e-9)
    noisy = np.clip(v + np.random.default_rng(1).normal(0, 0.1, v.shape), 0, 1)
    assert paired.ssim(noisy, v) < 0.9


def test_ssim_monai_and_skimage_agree():
    truth = _smooth_volume(2)
    pred = np.clip(truth * 0.8 + 0.1 + np.random.default_rng(3).normal(0, 0.05, truth.shape), 0, 1).astype(np.float32)
    smap = paired.ssim_map(pred, truth)
    pad = (paired.SSIM_GAUSS_WIN - 1) // 2
    ours = smap[pad:-pad, pad:-pad, pad:-pad].mean()  # MONAI uses 'valid' convolutions
    metric = SSIMMetric(spatial_dims=3, data_range=1.0, kernel_type="gaussian", win_size=11, kernel_sigma=1.5)
    theirs = float(metric(torch.from_numpy(pred)[None, None], torch.from_numpy(truth)[None, None]).item())
    assert 0.3 < ours < 0.99
    assert ours == pytest.approx(theirs, abs=2e-3)


def test_thin_volume_falls_back_to_small_window():
    v = _smooth_volume(4, shape=(5, 24, 24))
    assert paired.ssim(v, v) == pytest.approx(1.0, abs=1e-9)
    with pytest.raises(ValueError):
        paired.ssim_map(v[:2], v[:2])


def test_mask_restricts_every_metric():
    truth = _smooth_volume(5)
    mask = np.zeros(truth.shape, bool)
    mask[4:12, 6:18, 6:18] = True
    pred = truth.copy()
    pred[~mask] = 1.0 - pred[~mask]  # wrong only outside the mask
    assert paired.mae(pred, truth, mask) == 0.0
    assert paired.psnr(pred, truth, mask) == math.inf
    assert paired.ncc(pred, truth, mask) == pytest.approx(1.0)
    assert paired.mae(pred, truth) > 0.05
    # SSIM inside a mask deep in the volume is computed from the full map, averaged over mask voxels.
    smap = paired.ssim_map(pred, truth)
    assert paired.ssim(pred, truth, mask) == pytest.approx(smap[mask].mean())
    with pytest.raises(ValueError):
        paired.mae(pred, truth, np.zeros_like(mask))


def test_ncc_is_affine_invariant_and_signed():
    truth = _smooth_volume(6)
    assert paired.ncc(2 * truth + 0.1, truth) == pytest.approx(1.0, abs=1e-9)
    assert paired.ncc(-truth, truth) == pytest.approx(-1.0, abs=1e-9)
    assert paired.ncc(np.zeros_like(truth), truth) == 0.0


def test_metric_space_is_per_volume_and_scale_free():
    v = _smooth_volume(7) * 900 + 50
    v[:, :4] = 0  # air
    m = paired.to_metric_space(v)
    assert m.min() >= 0.0 and m.max() <= 1.0 and m.dtype == np.float32
    np.testing.assert_allclose(paired.to_metric_space(v * 3 + 100), m, atol=1e-5)


def test_paired_scores_bundle():
    truth = _smooth_volume(8)
    s = paired.paired_scores(truth, truth, None).to_dict()
    assert set(s) == set(paired.PAIRED_METRICS)
    assert s["ssim"] == pytest.approx(1.0) and s["mae"] == 0.0 and s["psnr"] == math.inf
