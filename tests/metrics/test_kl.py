import math

import numpy as np
import pytest

from cyclescan.metrics.kl import histogram_kl, normalized_histogram


def test_histogram_edges_and_sum():
    x = np.array([-5.0, -1.0, 0.0, 1.0, 7.0])  # out-of-range values land in the edge bins
    h = normalized_histogram(x)
    assert h.shape == (256,)
    assert h.sum() == pytest.approx(1.0)
    assert h[0] == pytest.approx(2 / 5)  # -5 and -1 -> u <= 0 -> bin 0
    assert h[255] == pytest.approx(2 / 5)  # 1 -> u = 1 -> clipped into the last bin; 7 too
    assert h[128] == pytest.approx(1 / 5)  # 0 -> u = 0.5 -> bin 128


def test_kl_hand_computation():
    # P: all mass in bin 0. Q: half in bin 0, half in bin 255.
    real = np.full(10, -1.0)
    fake = np.array([-1.0] * 5 + [1.0] * 5)
    eps = 1e-10
    expected = 1.0 * math.log((1.0 + eps) / (0.5 + eps))  # bins with p=0 contribute 0
    assert histogram_kl(real, fake) == pytest.approx(expected, rel=1e-12)
    # Asymmetric: Q||P sees q=0.5 where p=0 -> large.
    expected_rev = 0.5 * math.log((0.5 + eps) / (1.0 + eps)) + 0.5 * math.log((0.5 + eps) / eps)
    assert histogram_kl(fake, real) == pytest.approx(expected_rev, rel=1e-12)


def test_kl_zero_for_identical():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(4, 8, 8))
    assert histogram_kl(x, x.copy()) == pytest.approx(0.0, abs=1e-12)
