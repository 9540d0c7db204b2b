"""Generator outputs: ``tanh`` of the logits, or the source scaled by a learned log-ratio map.

MR physics behind ``log_ratio``: a voxel's signal is proton density x coil sensitivity (bias
field) x a sequence-dependent function of the tissue's relaxation times (T1, T2, T2*). For two
acquisitions of the same anatomy the *ratio* target / source cancels proton density, bias and
intra-tissue texture and depends on the tissue alone: it is piecewise constant (CISS -> DESS:
one value per tissue; echo 1 -> echo 8 of a spin echo: exp(-dTE / T2)). A generator that outputs
``log(target / source)`` and multiplies it onto the source keeps the source's bias field and
texture by construction and only has to find tissue identity from context. A plain tanh
generator that inverts a tissue (CISS fat bright -> DESS fat dark) inverts the tissue's texture
and bias with it: measured on the phantom's 2-hour model, inside marrow the translation
correlates *negatively* with the truth (-0.64 CISS -> DESS, -0.46 DESS -> CISS), and texture
and bias errors, not tissue levels, are most of its squared error (docs/results.md section 1).
Measured with this output (same section): trained with pairs it gives the best CISS -> DESS of
any run; trained unpaired (the CycleGAN) both generators end at source x constant, the identity
contrast, which is exactly cycle-consistent. Hence experimental and off by default.

Model space [-1, 1] is read as signal ``s = (x + 1) / 2`` in [0, 1] (air 0, the normalization's
upper percentile 1). Output ``s * exp(r)``, softly saturated at 1 so that the output stays in
model space with a gradient everywhere: ``s_sat = s_out / (1 + s_out^p)^(1/p)``, computed in the
log domain (no overflow), in float32 whatever the autocast precision.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

OUTPUTS = ("tanh", "log_ratio")
SATURATION_POWER = 16.0   # p of the soft saturation: <= 0.3 % low below s_out = 0.7, -4 % at 1.0
SIGNAL_FLOOR = 1e-6       # log of the source signal is taken above this (air reads 0)
MAX_LOG_RATIO = 12.0      # |r| cap: exp(12) ~ 1.6e5 covers any contrast ratio, no overflow


def log_ratio_output(r: torch.Tensor, x: torch.Tensor, power: float = SATURATION_POWER) -> torch.Tensor:
    """Source ``x`` (B, C, D, H, W) in [-1, 1] (channel 0) scaled by ``exp(r)`` -> [-1, 1], r's shape/dtype."""
    s = ((x[:, :1].float() + 1.0) * 0.5).clamp_min(SIGNAL_FLOOR)
    log_out = torch.log(s) + r.float().clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO)
    log_sat = log_out - F.softplus(power * log_out) / power
    return (2.0 * torch.exp(log_sat) - 1.0).to(r.dtype)


def finish(logits: torch.Tensor, x: torch.Tensor, output: str) -> torch.Tensor:
    """A generator's last step: ``tanh(logits)`` or ``log_ratio_output(logits, x)``."""
    if output == "tanh":
        return torch.tanh(logits)
    if output == "log_ratio":
        return log_ratio_output(logits, x)
    raise ValueError(f"generator output must be one of {OUTPUTS}, got {output!r}")
