"""scripts/quality_lib.py: the clean truth in the metric space `cyclescan evaluate` scores in."""

from __future__ import annotations

import numpy as np

from cyclescan.data.normalize import foreground_mask


def test_truth_in_metric_space_uses_the_foreground_percentiles(qlib):
    rng = np.random.default_rng(3)
    clean = np.zeros((8, 24, 24), np.float32)
    clean[2:6, 4:20, 4:20] = rng.uniform(100, 1000, size=(4, 16, 16))  # body in air
    truth01, mask = qlib.truth_in_metric_space(clean)
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, foreground_mask(clean).astype(bool))
    assert mask[3, 10, 10] and not mask[0, 0, 0]
    assert truth01.min() >= 0.0 and truth01.max() <= 1.0
    # the 0.5 / 99.5 percentiles *inside the body* land on 0 and 1 (air would pull the low one to 0)
    lo, hi = np.percentile(clean[mask], [0.5, 99.5])
    body = clean[mask]
    inside = (body > lo) & (body < hi)
    np.testing.assert_allclose(truth01[mask][inside], (body[inside] - lo) / (hi - lo), atol=1e-5)
