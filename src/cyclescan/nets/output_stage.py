"""The last stage both generators share: body logits -> image in model space [-1, 1].

    logits (+ intensity branch of the raw source, nets/intensity.py)
           (+ histogram base, nets/quantile_map.py)
    -> tanh, or the source x exp(logits) (``output="log_ratio"``, nets/log_ratio.py)
    -> optional air gate (nets/gate.py): source air -> -1
    -> optional, experimental: the ratio detail transfer in model space (nets/detail_stage.py;
       built by nets/registry.py from generator.detail_sigma_vox, no parameters)

A mixin rather than a submodule so the parameters keep their names (``intensity.*``, ``base.*``)
in the generators' state dicts, and checkpoints written before this module existed still load.
"""

from __future__ import annotations

import torch
from torch import nn

from cyclescan.nets.gate import AirGate
from cyclescan.nets.intensity import IntensityBranch, output_logits
from cyclescan.nets.log_ratio import finish
from cyclescan.nets.quantile_map import QuantileMap


class OutputStage:
    """Mixin for an ``nn.Module`` generator: call :meth:`init_output_stage` in ``__init__`` (after
    ``nn.Module.__init__``) and return :meth:`output_stage` of the body's logits from ``forward``."""

    air_gate: AirGate | None
    detail: nn.Module | None
    intensity: nn.Module | None
    base: QuantileMap | None
    output: str

    def init_output_stage(self, *, in_channels: int, out_channels: int, air_gate: AirGate | None,
                          intensity_hidden: int, histogram_base: bool, output: str,
                          detail: nn.Module | None = None) -> None:
        self.air_gate = air_gate
        self.detail = detail  # parameter-free, so it adds no state-dict keys
        self.output = output
        self.intensity = IntensityBranch(intensity_hidden, in_channels, out_channels) if intensity_hidden else None
        self.base = QuantileMap() if histogram_base else None

    def output_stage(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """logits (B, C_out, D, H, W), source x (B, C_in, D, H, W) -> (B, C_out, D, H, W) in [-1, 1]."""
        y = finish(output_logits(logits, x, self.intensity, self.base), x, self.output)
        y = y if self.air_gate is None else self.air_gate(x, y)
        return y if self.detail is None else self.detail(x, y)
