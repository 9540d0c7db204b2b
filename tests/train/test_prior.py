"""Histogram prior (train/prior.py): the quantile map's math and its wiring into the CycleGAN loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.exposure import match_histograms

from cyclescan.train.cyclegan import CycleGAN
from cyclescan.data.histogram import GRID, quantile_map_table
from cyclescan.nets.quantile_map import apply_table
from cyclescan.train.prior import HistogramPrior

from test_cyclegan import PATCH, batch, reached, tiny_cfg, zero_grads


def test_linear_quantiles_give_the_linear_map():
    qs = np.linspace(-0.5, 0.5, 101)  # uniform on [-0.5, 0.5]
    qt = np.linspace(0.0, 1.0, 101)  # uniform on [0, 1]  -> y = x + 0.5 inside the source range
    table = quantile_map_table(qs, qt)
    x = np.linspace(-1, 1, GRID)
    inside = (x >= -0.5) & (x <= 0.5)
    np.testing.assert_allclose(table[inside], x[inside] + 0.5, atol=1e-6)
    assert np.all(table[x < -0.5] == -1.0)  # darker than the source foreground: air floor
    assert np.all(table[x > 0.5] == pytest.approx(1.0))
    assert np.all(np.diff(table) >= 0)


def test_inverting_map_when_target_is_reversed_distribution():
    # a skewed source: mass near -1; target the mirror image. The map is the monotone one that
    # matches the distributions, i.e. CDF_t^-1(CDF_s(x)), checked against scikit-image.
    rng = np.random.default_rng(0)
    src = np.clip(rng.beta(2, 5, 50_000) * 2 - 1, -1, 1)
    tgt = np.clip(rng.beta(5, 2, 50_000) * 2 - 1, -1, 1)
    probs = np.linspace(0, 1, 1024)
    table = torch.from_numpy(quantile_map_table(np.quantile(src, probs), np.quantile(tgt, probs)))
    sample = src[:2000]
    ours = apply_table(torch.from_numpy(sample).float(), table).numpy()
    ref = match_histograms(sample, np.quantile(tgt, probs))
    assert np.abs(ours - ref).mean() < 0.02


def test_ties_take_the_mid_rank():
    qs = np.array([-0.2, 0.0, 1.0, 1.0, 1.0])  # 3/5 of the source quantiles clipped at +1
    qt = np.linspace(-1.0, 1.0, 5)
    table = quantile_map_table(qs, qt)
    # x = 1 has probabilities 0.5, 0.75, 1.0 -> mid 0.75 -> target quantile at 0.75 = 0.5
    assert table[-1] == pytest.approx(0.5)


def test_apply_table_interpolates_and_clamps():
    table = torch.linspace(-1, 1, 5) ** 3  # arbitrary monotone
    x = torch.tensor([-2.0, -1.0, -0.75, 0.0, 0.25, 1.0, 3.0])
    y = apply_table(x, table)
    grid = torch.linspace(-1, 1, 5)
    expect = torch.from_numpy(np.interp(x.clamp(-1, 1).numpy(), grid.numpy(), table.numpy())).float()
    torch.testing.assert_close(y, expect)
    assert y.requires_grad is False


def reference():
    q = np.linspace(-1, 1, 64)
    return {"a": torch.from_numpy(q).float(), "b": torch.from_numpy(-np.sort(-q) ** 3).float()}


def test_prior_terms_are_zero_when_disabled():
    m = CycleGAN(tiny_cfg(), PATCH)
    _, terms, _ = m.generator_losses(*batch())
    assert terms["prior_ab"].item() == 0.0 and terms["prior_ba"].item() == 0.0


def test_prior_weight_needs_the_reference():
    cfg = tiny_cfg()
    cfg.loss.histogram_prior_weight = 0.5
    with pytest.raises(ValueError, match="reference"):
        CycleGAN(cfg, PATCH)


def test_prior_terms_use_the_right_generator_and_enter_the_total():
    cfg = tiny_cfg()
    cfg.loss.histogram_prior_weight = 0.3
    m = CycleGAN(cfg, PATCH, reference=reference())
    real_a, real_b = batch()
    with torch.no_grad():
        total, terms, fakes = m.generator_losses(real_a, real_b)
        prior = HistogramPrior(reference())
        expect_ab = (m.G_ab(real_a) - prior(real_a, "a2b")).abs().mean()
        expect_ba = (m.G_ba(real_b) - prior(real_b, "b2a")).abs().mean()
    torch.testing.assert_close(terms["prior_ab"], expect_ab)
    torch.testing.assert_close(terms["prior_ba"], expect_ba)
    lam = cfg.loss.lambda_cycle
    rest = (terms["G_adv_ab"] + terms["G_adv_ba"] + lam * (terms["cycle_a"] + terms["cycle_b"])
            + cfg.loss.identity_weight * lam * (terms["idt_a"] + terms["idt_b"]))
    torch.testing.assert_close(total, rest + 0.3 * lam * (expect_ab + expect_ba))
    for term, net in (("prior_ab", {"G_ab"}), ("prior_ba", {"G_ba"})):
        zero_grads(m)
        _, terms, _ = m.generator_losses(real_a, real_b)
        terms[term].backward()
        assert reached(m) == net


def test_prior_pulls_a_generator_toward_the_map():
    # with only the prior term, a few steps of the generator optimizer reduce its L1
    cfg = tiny_cfg()
    cfg.loss.histogram_prior_weight = 1.0
    m = CycleGAN(cfg, PATCH, reference=reference())
    real_a, real_b = batch()
    first = None
    for _ in range(30):
        m.opt_G.zero_grad(set_to_none=True)
        _, terms, _ = m.generator_losses(real_a, real_b)
        loss = terms["prior_ab"] + terms["prior_ba"]
        first = float(loss.detach()) if first is None else first
        loss.backward()
        m.opt_G.step()
    assert float(loss.detach()) < 0.7 * first
