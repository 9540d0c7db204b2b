"""metrics/methods.py: evaluate's rows. With a bias field, histogram matching gets the model's
N4 handling (flatten, match to the flattened reference, multiply the field back)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from cyclescan.config import Config
from cyclescan.data.normalize import NormStats, denormalize, intensity_quantiles
from cyclescan.metrics.baselines import histmatch_source
from cyclescan.metrics.methods import fg_raw, method_outputs, own_norm
from cyclescan.metrics.paired import own_normalize

sys.path.insert(0, str(Path(__file__).parents[1] / "data"))
from test_bias import _bias, _phantom  # noqa: E402


def test_histmatch_with_the_field_matches_the_flat_volume_and_keeps_the_field():
    flat, _, body = _phantom(4)
    bias = _bias()
    src = flat * bias
    data_cfg = Config().data
    target = NormStats(0.0, 1000.0)
    # reference: the flattened volume itself, as a training volume of the target domain would be
    # after N4 (a monotone change of levels would do the same)
    ref_vol = own_normalize(flat)
    reference = intensity_quantiles([ref_vol], 512, masks=[body])
    rows = method_outputs(src, src, target, reference, data_cfg, signal=False, bias=bias)
    # by hand: flatten with the field, match, put on the target scale, multiply the field back,
    # then the metric space like the model (the volume's own percentile window)
    expected = denormalize(histmatch_source(flat, reference, data_cfg), target) * bias
    exp01 = (own_norm(expected, data_cfg, fg_raw(expected)) + 1.0) * 0.5
    np.testing.assert_allclose(rows["histmatch"][1], exp01, atol=1e-4)   # float32: (flat x field) / field
    # the plain baseline (no field) matches the biased source directly: a different volume
    plain = method_outputs(src, src, target, reference, data_cfg, signal=False)["histmatch"][1]
    assert np.abs(plain - exp01)[body].mean() > 0.02


def test_without_a_field_the_rows_are_unchanged():
    flat, _, _ = _phantom(5)
    data_cfg = Config().data
    target = NormStats(0.0, 1000.0)
    reference = np.linspace(-1, 1, 64).astype(np.float32)
    a = method_outputs(flat, flat, target, reference, data_cfg, signal=False)
    b = method_outputs(flat, flat, target, reference, data_cfg, signal=False, bias=None)
    assert list(a) == ["model", "identity", "histmatch"]
    for k in a:
        np.testing.assert_array_equal(a[k][1], b[k][1])
