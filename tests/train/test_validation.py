"""Validation scalars and the best-checkpoint score, value for value, with a known stand-in model.

The stand-in translates a -> b as ``0.5 x + 0.2`` and b -> a as the identity: both are
voxel-wise, so the sliding window is exact and every scalar has a closed form below. Each check
fails for a plausible wiring bug (KL arguments swapped, the forward net used for the cycle, SSIM
against the source, the wrong sign in the selection score).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cyclescan.metrics.kl import kl_from_histograms, normalized_histogram
from cyclescan.train.validation import ValVolume, paired_ssim, selection_score, validate


class StandIn:
    """The part of CycleGAN that validate() uses: translate(x, direction) and networks()."""

    def __init__(self) -> None:
        self.net = torch.nn.Identity()

    def networks(self) -> dict[str, torch.nn.Module]:
        return {"G_ab": self.net}

    def translate(self, x: torch.Tensor, direction: str) -> torch.Tensor:
        return forward(x, direction)


def forward(x, direction: str):
    """The stand-in's translation, for tensors (validate) and arrays (the expected values)."""
    return 0.5 * x + 0.2 if direction == "a2b" else x


def _vols(seed: int, names: list[str], shape=(8, 16, 16)) -> list[ValVolume]:
    rng = np.random.default_rng(seed)
    out = []
    for n in names:
        z = np.linspace(-1, 1, shape[2], dtype=np.float32)[None, None, :] * 0.8
        out.append(ValVolume(n, np.clip(z + rng.normal(0, 0.2, shape).astype(np.float32), -1, 1)))
    return out


@pytest.fixture(scope="module")
def result():
    va, vb = _vols(0, ["s1", "s2"]), _vols(1, ["s1", "s2"])
    res = validate(StandIn(), va, vb, window=(8, 16, 16), divisor=1, device="cpu", precision="fp32")
    return va, vb, res.scalars


def test_kl_is_real_target_histogram_vs_translated(result):
    va, vb, s = result
    for src, tgt, d in ((va, vb, "a2b"), (vb, va, "b2a")):
        p = np.mean([normalized_histogram(t.array) for t in tgt], axis=0)
        q = np.mean([normalized_histogram(forward(v.array, d)) for v in src], axis=0)
        assert s[f"val_kl_{d}"] == pytest.approx(kl_from_histograms(p, q), rel=1e-6)
        if d == "a2b":  # not symmetric here, so a swapped argument order would be caught
            assert abs(kl_from_histograms(p, q) - kl_from_histograms(q, p)) > 1e-3


def test_cycle_uses_the_backward_generator(result):
    va, vb, s = result
    # a -> b -> a: identity after 0.5x + 0.2; b -> a -> b: 0.5x + 0.2 after identity. Same closed form.
    for vols, dom in ((va, "a"), (vb, "b")):
        expect = np.mean([np.mean(np.abs(0.5 * v.array + 0.2 - v.array)) for v in vols])
        assert s[f"val_cycle_l1_{dom}"] == pytest.approx(expect, rel=1e-5)
        assert expect > 0.05  # the forward net used twice would give 0 (b2a) or a different value


def test_paired_ssim_is_translation_vs_real_target(result):
    va, vb, s = result
    expect_a2b = np.mean([paired_ssim(forward(a.array, "a2b"), b.array) for a, b in zip(va, vb)])
    expect_b2a = np.mean([paired_ssim(b.array, a.array) for a, b in zip(va, vb)])
    assert s["val_ssim_a2b"] == pytest.approx(expect_a2b, rel=1e-6)
    assert s["val_ssim_b2a"] == pytest.approx(expect_b2a, rel=1e-6)
    against_source = np.mean([paired_ssim(forward(a.array, "a2b"), a.array) for a in va])
    assert abs(against_source - expect_a2b) > 0.01


def test_unpaired_val_set_has_no_ssim():
    va, vb = _vols(0, ["s1"]), _vols(1, ["other"])
    s = validate(StandIn(), va, vb, window=(8, 16, 16), divisor=1, device="cpu", precision="fp32").scalars
    assert "val_ssim_a2b" not in s and {"val_kl_a2b", "val_kl_b2a", "val_cycle_l1_a", "val_cycle_l1_b"} <= set(s)


def test_selection_scores_lower_is_better():
    s = {"val_kl_a2b": 0.2, "val_kl_b2a": 0.4, "val_cycle_l1_a": 0.1, "val_cycle_l1_b": 0.3,
         "val_ssim_a2b": 0.6, "val_ssim_b2a": 0.8}
    assert selection_score(s, "kl_cycle") == pytest.approx(0.5 * (0.2 + 0.4) + 0.5 * (0.1 + 0.3))
    assert selection_score(s, "ssim") == pytest.approx(-0.7)
    assert math.isnan(selection_score({}, "ssim"))
