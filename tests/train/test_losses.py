"""Adversarial / L1 losses on hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from cyclescan.train.losses import AdversarialLoss, l1_loss

REAL = torch.tensor([[2.0, 0.0]])
FAKE = torch.tensor([[1.0, -1.0]])


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_lsgan_hand_values():
    adv = AdversarialLoss("lsgan")
    # real: mean((2-1)^2, (0-1)^2) = 1; fake: mean(1^2, (-1)^2) = 1 -> 0.5 * 2
    assert adv.discriminator(REAL, FAKE).item() == pytest.approx(1.0)
    # G: mean((1-1)^2, (-1-1)^2) = 2
    assert adv.generator(FAKE).item() == pytest.approx(2.0)


def test_bce_hand_values():
    adv = AdversarialLoss("bce")
    # -log sigmoid(x) = softplus(-x); -log(1 - sigmoid(x)) = softplus(x)
    real = (softplus(-2.0) + softplus(0.0)) / 2
    fake = (softplus(1.0) + softplus(-1.0)) / 2
    assert adv.discriminator(REAL, FAKE).item() == pytest.approx(0.5 * (real + fake), rel=1e-6)
    assert adv.generator(FAKE).item() == pytest.approx((softplus(-1.0) + softplus(1.0)) / 2, rel=1e-6)


def test_hinge_hand_values():
    adv = AdversarialLoss("hinge")
    # real: mean(relu(1-2), relu(1-0)) = 0.5; fake: mean(relu(1+1), relu(1-1)) = 1
    assert adv.discriminator(REAL, FAKE).item() == pytest.approx(0.75)
    assert adv.generator(FAKE).item() == pytest.approx(0.0)
    assert adv.generator(torch.tensor([3.0, 1.0])).item() == pytest.approx(-2.0)


@pytest.mark.parametrize("mode", ["lsgan", "bce", "hinge"])
def test_losses_are_0dim_fp32_from_bf16(mode):
    adv = AdversarialLoss(mode)
    d = adv.discriminator(REAL.bfloat16(), FAKE.bfloat16())
    g = adv.generator(FAKE.bfloat16())
    assert d.dim() == 0 and g.dim() == 0
    assert d.dtype == g.dtype == torch.float32


@pytest.mark.parametrize("mode", ["lsgan", "bce", "hinge"])
def test_discriminator_gradient_direction(mode):
    """Minimising D's loss raises real scores and lowers fake scores; G's loss raises fake scores."""
    real = torch.full((1, 1, 2, 2, 2), 0.5, requires_grad=True)
    fake = torch.full((1, 1, 2, 2, 2), 0.5, requires_grad=True)
    adv = AdversarialLoss(mode)
    adv.discriminator(real, fake).backward()
    assert (real.grad < 0).all() and (fake.grad > 0).all()
    fake.grad = None
    adv.generator(fake).backward()
    assert (fake.grad < 0).all()


def test_l1_and_unknown_mode():
    assert l1_loss(torch.tensor([1.0, -1.0]), torch.tensor([0.0, 1.0])).item() == pytest.approx(1.5)
    with pytest.raises(ValueError, match="gan_mode"):
        AdversarialLoss("wgan")  # type: ignore[arg-type]
