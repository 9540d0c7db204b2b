"""Adversarial, cycle and identity losses.

Adversarial modes (``loss.gan_mode``), with D(x) the raw PatchGAN score map:

=========  =======================================================  =========================
mode       discriminator (per side, averaged over the score map)    generator (on D(fake))
=========  =======================================================  =========================
lsgan      (D(real) - 1)^2  and  D(fake)^2      (Mao et al. 2017)   (D(fake) - 1)^2
bce        -log s(D(real))  and  -log(1 - s(D(fake)))   (logits)    -log s(D(fake))
hinge      relu(1 - D(real))  and  relu(1 + D(fake))                 -D(fake)
=========  =======================================================  =========================

The discriminator loss is 0.5 * (real term + fake term), as in the original CycleGAN, so D learns
at half the rate of G. All losses are computed in fp32 (scores are cast) and return 0-dim tensors.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

GanMode = Literal["lsgan", "bce", "hinge"]
GAN_MODES: tuple[str, ...] = ("lsgan", "bce", "hinge")


class AdversarialLoss:
    """Adversarial loss of one ``mode`` for both players.

    ``generator(pred_fake)`` and ``discriminator(pred_real, pred_fake)`` take score maps of any
    shape (B, 1, d, h, w) and return a 0-dim fp32 tensor.
    """

    def __init__(self, mode: GanMode) -> None:
        if mode not in GAN_MODES:
            raise ValueError(f"unknown gan_mode {mode!r} (expected one of {', '.join(GAN_MODES)})")
        self.mode = mode

    def _target_term(self, pred: torch.Tensor, real: bool) -> torch.Tensor:
        """lsgan/bce loss of ``pred`` against an all-1 (real) or all-0 (fake) target."""
        target = torch.full_like(pred, 1.0 if real else 0.0)
        if self.mode == "lsgan":
            return F.mse_loss(pred, target)
        return F.binary_cross_entropy_with_logits(pred, target)

    def generator(self, pred_fake: torch.Tensor) -> torch.Tensor:
        """Generator's loss on the discriminator's scores for its fakes (wants them judged real)."""
        pred_fake = pred_fake.float()
        if self.mode == "hinge":
            return -pred_fake.mean()
        return self._target_term(pred_fake, True)

    def fake_term(self, pred_fake: torch.Tensor) -> torch.Tensor:
        """The discriminator's loss on scores it should call fake (one half of ``discriminator``)."""
        pred_fake = pred_fake.float()
        if self.mode == "hinge":
            return F.relu(1.0 + pred_fake).mean()
        return self._target_term(pred_fake, False)

    def discriminator(self, pred_real: torch.Tensor, pred_fake: torch.Tensor) -> torch.Tensor:
        """0.5 * (loss on real scores + loss on fake scores)."""
        pred_real, pred_fake = pred_real.float(), pred_fake.float()
        if self.mode == "hinge":
            real_term = F.relu(1.0 - pred_real).mean()
            fake_term = F.relu(1.0 + pred_fake).mean()
        else:
            real_term = self._target_term(pred_real, True)
            fake_term = self._target_term(pred_fake, False)
        return 0.5 * (real_term + fake_term)


def l1_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference in fp32 (cycle and identity losses); 0-dim tensor."""
    return F.l1_loss(x.float(), y.float())
