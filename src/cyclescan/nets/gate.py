"""Air gate: the generator synthesizes tissue; air in the source stays air in the output.

Source and target of a translation share the geometry, and air gives no MR signal in any
contrast, so a voxel the source shows as air must be air in the target too. Without the gate a
small CycleGAN spends most of a short training learning to paint the background (measured on the
phantom: after 300 steps both generators still filled the air with grey, and DESS->CISS even made it
bright, so the discriminators never got to judge tissue). With it, fakes have exactly the real
background and the adversarial signal is about tissue contrast only.

Air is what the percentile normalization puts at its floor (-1): voxels within ``margin`` of it,
cleaned by a 3x3 in-plane morphological opening so that isolated noise voxels in the air do not
open holes in the gate. The gate is parameter-free (no state-dict keys), local (a window of a
sliding-window pass sees the same mask as the whole volume, except within one voxel of the window
border, which blending covers) and differentiable in ``y`` (zero gradient in the air).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cyclescan.space import AIR


class AirGate(nn.Module):
    """``forward(x, y)``: y where the source ``x`` has tissue, ``floor`` where it has air.

    x: source (B, C, D, H, W) in [-1, 1] (channel 0 is used); y: generator output (B, C', D, H, W).
    """

    def __init__(self, floor: float = AIR, margin: float = 0.02) -> None:
        super().__init__()
        self.floor = float(floor)
        self.margin = float(margin)

    def extra_repr(self) -> str:
        return f"floor={self.floor}, margin={self.margin}"

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, D, H, W) float mask: 1 on tissue, 0 on air."""
        tissue = (x[:, :1] > self.floor + self.margin).to(torch.float32)
        # Opening = erosion then dilation, both as 3x3 in-plane max-pools (erosion = -maxpool(-m));
        # max_pool3d pads with -inf, so the volume border is neutral for both.
        window, pad = (1, 3, 3), (0, 1, 1)
        eroded = -F.max_pool3d(-tissue, window, stride=1, padding=pad)
        return F.max_pool3d(eroded, window, stride=1, padding=pad)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        m = self.mask(x).to(y.dtype)
        return y * m + self.floor * (1.0 - m)
