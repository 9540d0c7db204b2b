"""Intensity-band negatives: real patches with one tissue level moved, shown to D as fake.

Why (docs/results.md, "The trained discriminators do not see the wrong levels"): measured on the
phantom, a trained discriminator scores a real image whose fluid (or ACL) is set to the model's
wrong level the same as the real image, so the adversarial loss never asks the generator for the
right level. Negative data augmentation (Sinha et al. 2021) shows D such near-misses as fake.

Here a negative is a real patch (model space [-1, 1], air at -1) with the signal of one random
intensity band scaled:

    y = -1 + (x + 1) * (1 + (f - 1) * exp(-((x - c) / s)^2))      clipped to [-1, 1]

c ~ U(centre_range), s ~ U(width_range), f log-uniform in [1/max_factor, 1/min_factor] or
[min_factor, max_factor] (darker or brighter, equally likely). A smooth function of the voxel's own
value: no spatial edge that D could spot instead of the level; air (x = -1) stays -1. The band
hits whatever tissue sits at c, so no labels are needed.

Randomness comes from the object's own ``torch.Generator`` (seeded, saved in ``state_dict``) so a
run resumes exactly and the global RNG is untouched.
"""

from __future__ import annotations

import math

import torch


def band_scale(x: torch.Tensor, centre: torch.Tensor, width: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """The transform above for a batch: ``x`` (B, C, ...), centre/width/factor (B,) tensors."""
    shape = (-1,) + (1,) * (x.dim() - 1)
    c, s, f = (t.to(x.dtype).reshape(shape) for t in (centre, width, factor))
    gain = 1.0 + (f - 1.0) * torch.exp(-(((x - c) / s) ** 2))
    return torch.clamp(-1.0 + (x + 1.0) * gain, -1.0, 1.0)


class BandNegatives:
    """Draws one random band per patch; ``make(real)`` returns the negatives (detached, fp32)."""

    def __init__(self, seed: int, centre_range: tuple[float, float] = (-0.7, 0.9),
                 width_range: tuple[float, float] = (0.05, 0.2), min_factor: float = 1.5,
                 max_factor: float = 4.0) -> None:
        if not (1.0 < min_factor <= max_factor):
            raise ValueError(f"need 1 < min_factor <= max_factor, got {min_factor}, {max_factor}")
        self.centre_range, self.width_range = centre_range, width_range
        self.min_factor, self.max_factor = float(min_factor), float(max_factor)
        self.rng = torch.Generator().manual_seed(int(seed))

    def _uniform(self, n: int, lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=self.rng)

    def draw(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(centre, width, factor), each (n,) on the CPU."""
        centre = self._uniform(n, *self.centre_range)
        width = self._uniform(n, *self.width_range)
        log_f = self._uniform(n, math.log(self.min_factor), math.log(self.max_factor))
        darker = torch.rand(n, generator=self.rng) < 0.5
        factor = torch.exp(torch.where(darker, -log_f, log_f))
        return centre, width, factor

    @torch.no_grad()
    def make(self, real: torch.Tensor) -> torch.Tensor:
        """Negatives of a real batch (B, 1, D, H, W): one band per patch."""
        centre, width, factor = (t.to(real.device) for t in self.draw(real.shape[0]))
        return band_scale(real.detach().float(), centre, width, factor)

    def state_dict(self) -> dict:
        return {"rng": self.rng.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.rng.set_state(state["rng"])
