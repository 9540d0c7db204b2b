"""Intensity-band negatives (``loss.band_negative_weight``, train/negatives.py): the transform by
hand, the draw, the extra discriminator term and an exact resume."""

from __future__ import annotations

import math

import pytest
import torch

from cyclescan.train import checkpoint as ck
from cyclescan.train.cyclegan import CycleGAN
from cyclescan.train.losses import AdversarialLoss
from cyclescan.train.negatives import BandNegatives, band_scale

from test_cyclegan import PATCH, batch, tiny_cfg
from test_resume import assert_resume_is_exact
from tiny_run import tiny_cfg as tiny_run_cfg


def test_band_scale_by_hand():
    x = torch.tensor([-1.0, 0.0, 0.3, 0.9]).reshape(1, 1, 4)
    one = torch.ones(1)
    y = band_scale(x, centre=0.0 * one, width=0.1 * one, factor=0.5 * one)
    assert y[0, 0, 0] == -1.0                                   # air stays air
    assert y[0, 0, 1] == pytest.approx(-1.0 + 1.0 * 0.5)        # at the centre: signal (x + 1) halved
    g = 1.0 + (0.5 - 1.0) * math.exp(-9.0)                      # 3 widths away: almost untouched
    assert y[0, 0, 2] == pytest.approx(-1.0 + 1.3 * g)
    assert y[0, 0, 3] == pytest.approx(0.9, abs=1e-12)
    bright = band_scale(torch.tensor([[[0.0]]]), 0.0 * one, 0.1 * one, 4.0 * one)
    assert bright.item() == 1.0                                 # clipped to the range


def test_draws_cover_both_directions_and_stay_in_their_ranges():
    neg = BandNegatives(seed=0)
    c, s, f = neg.draw(400)
    assert c.min() >= -0.7 and c.max() <= 0.9 and s.min() >= 0.05 and s.max() <= 0.2
    darker, brighter = f < 1, f > 1
    assert darker.sum() > 100 and brighter.sum() > 100
    assert f[brighter].min() >= 1.5 - 1e-6 and f[brighter].max() <= 4.0 + 1e-6
    assert (1 / f[darker]).min() >= 1.5 - 1e-6 and (1 / f[darker]).max() <= 4.0 + 1e-6
    again = BandNegatives(seed=0)
    again.load_state_dict(BandNegatives(seed=0).state_dict())
    assert torch.equal(again.draw(5)[0], BandNegatives(seed=0).draw(5)[0])


def test_negative_term_is_added_with_its_weight_and_a_fake_target():
    cfg = tiny_cfg()
    cfg.loss.band_negative_weight = 0.7
    m = CycleGAN(cfg, PATCH)
    real_a, real_b = batch()
    fake_a, fake_b = batch(1)
    neg_a, neg_b = m.negatives.make(real_a), m.negatives.make(real_b)
    assert not torch.equal(neg_a, real_a) and neg_a.shape == real_a.shape
    with torch.no_grad():
        total, terms = m.discriminator_losses(real_a, real_b, fake_a, fake_b, neg_a=neg_a, neg_b=neg_b)
        plain, _ = m.discriminator_losses(real_a, real_b, fake_a, fake_b)
        adv = AdversarialLoss("lsgan")
        want_a = 0.5 * torch.mean(m.D_a(neg_a) ** 2)               # LSGAN: (score - 0)^2
        want_b = 0.5 * torch.mean(m.D_b(neg_b) ** 2)
    assert terms["D_neg_a"].item() == pytest.approx(want_a.item(), rel=1e-5)
    assert terms["D_neg_b"].item() == pytest.approx(want_b.item(), rel=1e-5)
    assert total.item() == pytest.approx(plain.item() + 0.7 * (want_a + want_b).item(), rel=1e-5)
    assert adv.fake_term(torch.zeros(3)).item() == 0.0
    out = m.step(real_a, real_b, autocast="fp32")                  # the step logs both terms
    assert {"D_neg_a", "D_neg_b"} <= set(out)
    assert CycleGAN(tiny_cfg(), PATCH).negatives is None           # weight 0: nothing drawn, nothing logged


def test_a_run_with_band_negatives_resumes_exactly(tiny_dataset, tmp_path, monkeypatch):
    cfg = tiny_run_cfg("loss.band_negative_weight=0.5", "train.epochs=2")
    straight = assert_resume_is_exact(cfg, tiny_dataset, tmp_path, monkeypatch)  # stopped mid-epoch 1
    assert "negatives" in ck.load_checkpoint(straight / "checkpoints" / "last.pt")
