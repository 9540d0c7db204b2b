"""scripts/error_budget.py: the per-tissue split of a translation's squared error, by hand."""

from __future__ import annotations

import numpy as np
import pytest


def test_budget_by_hand(error_budget):
    truth = np.array([[[0.2, 0.2, 0.8, 0.8, 0.5]]])
    pred = np.array([[[0.3, 0.1, 0.8, 0.4, 0.0]]])
    labels = np.array([[[1, 1, 2, 2, 3]]])
    mask = np.array([[[True, True, True, True, False]]])   # label 3 is outside the foreground
    rows = {r["tissue"]: r for r in error_budget.error_budget(pred, truth, mask, labels, {1: "fat", 2: "fluid"})}
    assert set(rows) == {"fat", "fluid"}
    # fat: errors +0.1, -0.1 -> no bias, RMS 0.1, SSE 0.02; fluid: 0, -0.4 -> bias -0.2, SSE 0.16
    assert rows["fat"]["n"] == 2 and rows["fat"]["bias"] == pytest.approx(0.0, abs=1e-12)
    assert rows["fat"]["rms"] == pytest.approx(0.1)
    assert rows["fluid"]["bias"] == pytest.approx(-0.2) and rows["fluid"]["rms"] == pytest.approx(np.sqrt(0.08))
    assert rows["fat"]["share"] == pytest.approx(0.02 / 0.18) and rows["fluid"]["share"] == pytest.approx(0.16 / 0.18)
    # fat's truth is constant: no correlation; build one with texture for the sign
    assert np.isnan(rows["fat"]["corr"])


def test_within_tissue_correlation_sees_an_inverted_texture(error_budget):
    texture = np.array([[[0.9, 1.0, 1.1, 1.2, 0.8]]])
    truth = 0.5 * texture
    labels, mask = np.ones_like(truth, dtype=int), np.ones_like(truth, dtype=bool)
    kept = error_budget.error_budget(0.2 * texture, truth, mask, labels, {1: "fat"})[0]
    inverted = error_budget.error_budget(0.2 / texture, truth, mask, labels, {1: "fat"})[0]
    assert kept["corr"] == pytest.approx(1.0) and inverted["corr"] < -0.95


def test_pooling_weights_by_voxels(error_budget):
    a = [{"tissue": "fat", "n": 1, "truth": 0.0, "pred": 1.0, "bias": 1.0, "rms": 1.0, "share": 1.0, "corr": 1.0}]
    b = [{"tissue": "fat", "n": 3, "truth": 1.0, "pred": 1.0, "bias": 0.0, "rms": 0.0, "share": 0.5, "corr": -1.0},
         {"tissue": "acl", "n": 1, "truth": 0.5, "pred": 0.5, "bias": 0.0, "rms": 1.0, "share": 0.5,
          "corr": float("nan")}]
    rows = {r["tissue"]: r for r in error_budget.pooled([a, b])}
    assert rows["fat"]["n"] == 4 and rows["fat"]["truth"] == pytest.approx(0.75)
    assert rows["fat"]["bias"] == pytest.approx(0.25) and rows["fat"]["rms"] == pytest.approx(0.5)
    assert rows["fat"]["share"] == pytest.approx(0.5) and rows["acl"]["share"] == pytest.approx(0.5)
    assert rows["fat"]["corr"] == pytest.approx(-0.5) and np.isnan(rows["acl"]["corr"])


def test_spread_ratio_sees_a_shrunk_bias_field(error_budget):
    """Texture kept at half its amplitude around the same mean: correlation 1, relative spread 0.5;
    a global gain (what the metric space's normalization removes) leaves it at 1."""
    truth = np.array([[[0.4, 0.5, 0.6, 0.7, 0.3]]])
    shrunk = truth.mean() + 0.5 * (truth - truth.mean())
    labels, mask = np.ones_like(truth, dtype=int), np.ones_like(truth, dtype=bool)
    row = error_budget.error_budget(shrunk, truth, mask, labels, {1: "fat"})[0]
    assert row["corr"] == pytest.approx(1.0) and row["spread"] == pytest.approx(0.5)
    scaled = error_budget.error_budget(1.3 * truth, truth, mask, labels, {1: "fat"})[0]  # a global gain
    assert scaled["spread"] == pytest.approx(1.0)
    flat = error_budget.error_budget(np.full_like(truth, 0.5), np.full_like(truth, 0.5), mask, labels, {1: "fat"})[0]
    assert np.isnan(flat["spread"])


def test_pooled_spread_is_voxel_weighted_and_skips_nan(error_budget):
    base = {"tissue": "fat", "truth": 0.5, "pred": 0.5, "bias": 0.0, "rms": 0.1, "share": 1.0, "corr": 1.0}
    rows = error_budget.pooled([[{**base, "n": 1, "spread": 1.0}], [{**base, "n": 3, "spread": 0.6}],
                                [{**base, "n": 5, "spread": float("nan")}]])
    assert rows[0]["spread"] == pytest.approx((1.0 + 3 * 0.6) / 4)
