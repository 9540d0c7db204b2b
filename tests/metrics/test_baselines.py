"""Baselines: identity is the normalized source; histogram matching to the target domain's
training quantiles brings the histogram closer (report KL drops) and is a monotone lookup."""

from __future__ import annotations

import numpy as np
import pytest

from cyclescan.data.normalize import intensity_quantiles
from cyclescan.errors import CheckpointError
from cyclescan.metrics import baselines
from cyclescan.metrics.kl import histogram_kl


def _volume(rng, power: float) -> np.ndarray:
    """A 'knee' in air: a block of tissue whose intensities follow a skewed distribution."""
    v = np.full((12, 32, 32), -1.0, np.float32)
    tissue = rng.random((8, 24, 24)) ** power
    v[2:10, 4:28, 4:28] = 2.0 * tissue - 1.0
    return v


def test_identity_is_the_source():
    src = np.linspace(-1, 1, 64, dtype=np.float32).reshape(4, 4, 4)
    np.testing.assert_array_equal(baselines.identity(src), src)


def test_histogram_matching_brings_histograms_closer():
    rng = np.random.default_rng(0)
    source = _volume(rng, 3.0)          # dark-skewed tissue
    target = _volume(rng, 0.4)          # bright-skewed tissue
    train_target = [_volume(rng, 0.4) for _ in range(3)]
    ref = intensity_quantiles(train_target)
    mask = source > -1.0
    matched = baselines.histogram_match(source, ref, mask=mask)
    before, after = histogram_kl(target, source), histogram_kl(target, matched)
    assert after < 0.25 * before
    assert matched.dtype == np.float32 and matched.min() >= -1 and matched.max() <= 1
    # A pure monotone lookup of the source: voxel order is preserved.
    order = np.argsort(source.ravel(), kind="stable")
    assert np.all(np.diff(matched.ravel()[order]) >= -1e-6)


def test_reference_from_checkpoint():
    import torch

    ck = {"reference": {"b": torch.linspace(-1, 1, 5)}, "_path": "x.pt"}
    np.testing.assert_allclose(baselines.reference_from_checkpoint(ck, "b"), np.linspace(-1, 1, 5), atol=1e-6)
    with pytest.raises(CheckpointError, match="--reference"):
        baselines.reference_from_checkpoint(ck, "a")
