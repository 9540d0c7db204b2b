"""The paired voxel-wise lookup (metrics.baselines.fit_paired_lookup / apply_lookup)."""

from __future__ import annotations

import numpy as np

from cyclescan.metrics.baselines import apply_lookup, fit_paired_lookup, histogram_match


def test_lookup_recovers_a_non_monotone_map_that_histmatch_cannot():
    rng = np.random.default_rng(0)
    src = rng.uniform(-1, 1, (8, 32, 32)).astype(np.float32)
    f = lambda x: 0.8 * (2 * x**2 - 1)  # non-monotone: bright and dark both map to bright
    tgt = f(src) + rng.normal(0, 0.05, src.shape)
    xs, ys = fit_paired_lookup(src, tgt, n_bins=64)
    assert np.all(np.diff(xs) > 0)
    test = rng.uniform(-1, 1, (8, 32, 32)).astype(np.float32)
    err_lookup = np.abs(apply_lookup(test, xs, ys) - f(test)).mean()
    quantiles = np.quantile(tgt, np.linspace(0, 1, 256))
    err_hm = np.abs(histogram_match(test, quantiles) - f(test)).mean()
    assert err_lookup < 0.03  # bin width + noise/sqrt(n)
    assert err_hm > 5 * err_lookup


def test_lookup_uses_only_masked_voxels_and_lists_of_volumes():
    src = [np.linspace(-1, 1, 1000).reshape(10, 10, 10), np.linspace(-1, 1, 1000).reshape(10, 10, 10)]
    tgt = [0.5 * s for s in src]
    masks = [np.ones((10, 10, 10), bool), np.ones((10, 10, 10), bool)]
    masks[1][:5] = False
    tgt[1] = np.where(masks[1], tgt[1], 99.0)  # outside the mask: garbage that must be ignored
    xs, ys = fit_paired_lookup(src, tgt, masks, n_bins=20)
    np.testing.assert_allclose(ys, 0.5 * xs, atol=1e-9)


def test_apply_clamps_beyond_the_knots_and_stays_in_model_space():
    out = apply_lookup(np.array([[[-5.0, 0.0, 5.0]]]), np.array([-0.5, 0.5]), np.array([-2.0, 2.0]))
    np.testing.assert_allclose(out, [[[-1.0, 0.0, 1.0]]])
    assert out.dtype == np.float32
