"""The air level is one value everywhere: normalization floor, air gate, window padding, histogram base."""

import numpy as np
import torch

from cyclescan import space
from cyclescan.data.normalize import NormStats, normalize
from cyclescan.infer.sliding import PAD_VALUE
from cyclescan.nets.gate import AirGate
from cyclescan.data.histogram import quantile_map_table


def test_air_level_agrees_across_modules():
    vol = np.array([-50.0, 0.0, 5.0, 10.0, 500.0], dtype=np.float32)
    out = normalize(vol, NormStats(0.0, 10.0))
    assert out[0] == space.AIR and out[1] == space.LOW and out[-1] == space.HIGH
    assert PAD_VALUE == space.AIR
    gate = AirGate()
    x = torch.full((1, 1, 2, 2, 2), space.AIR)
    y = torch.full((1, 1, 2, 2, 2), 0.3)
    assert torch.all(gate(x, y) == space.AIR)
    q = np.linspace(-0.5, 1.0, 16, dtype=np.float32)
    table = quantile_map_table(q, q, grid=33)
    assert table[0] == space.AIR  # darker than the source's darkest tissue -> air
