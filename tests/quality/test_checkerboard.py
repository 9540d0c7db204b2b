"""No checkerboard: a generator's output spectrum has no peak at the upsampling period with
interp upsampling, and does with stride-2 transposed convs (the report's choice).

Synthetic check on randomly initialised tiny U-Nets (seeded): the input is heavily smoothed noise,
so its power near the Nyquist frequency is ~0 and any peak there is made by the network.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from cyclescan.config import GeneratorConfig
from cyclescan.nets.registry import build_generator


def _output(upsample: str, seed: int) -> np.ndarray:
    g = GeneratorConfig(arch="unet", base_channels=4, depth=2, upsample=upsample, min_depth=3)
    net = build_generator(g, [8, 32, 32], generator=torch.Generator().manual_seed(seed)).eval()
    x = gaussian_filter(np.random.default_rng(seed).standard_normal((8, 32, 32)), 3.0)
    x = (x / np.abs(x).max()).astype(np.float32)
    with torch.no_grad():
        return net(torch.from_numpy(x)[None, None])[0, 0].numpy()


def test_peak_ratio_detects_a_period_two_pattern(qlib):
    smooth = gaussian_filter(np.random.default_rng(1).standard_normal((4, 32, 32)), 2.0)
    checker = smooth + 0.05 * (np.indices((4, 32, 32)).sum(axis=0) % 2)
    assert qlib.periodic_peak_ratio(smooth, 2) < 1.5
    assert qlib.periodic_peak_ratio(checker, 2) > 10


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_interp_upsampling_has_no_peak_at_the_upsampling_period(qlib, seed):
    interp = qlib.periodic_peak_ratio(_output("interp", seed), 2)
    transpose = qlib.periodic_peak_ratio(_output("transpose", seed), 2)
    assert interp < 1.3
    assert transpose > 1.6  # the test can see a checkerboard when there is one
