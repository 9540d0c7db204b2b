"""scripts/tissue_visibility.py: a tissue's contrast to its one-voxel rim, by hand."""

from __future__ import annotations

import numpy as np
import pytest


def _scene():
    """A 1x5x5 slice: air border, a 3x3 block of label 2 (value 100) around one voxel of label 1."""
    labels = np.zeros((1, 5, 5), dtype=np.int64)
    labels[0, 1:4, 1:4] = 2
    labels[0, 2, 2] = 1
    clean = np.where(labels == 1, 40.0, np.where(labels == 2, 100.0, 0.0))
    return clean, labels


def test_rim_contrast_by_hand(tissue_visibility):
    clean, labels = _scene()
    noise = np.zeros_like(clean)
    fg = labels > 0
    noise[fg] = np.resize([10.0, -10.0], int(fg.sum()))   # foreground noise: std 10 (9 voxels: mean 10/9)
    r = tissue_visibility.rim_contrast(clean, clean + noise, labels, 1)
    sigma = float(noise[fg].std())
    # the 6-connected rim of the centre voxel inside the slice: its 4 in-plane neighbours, all label 2
    assert r["n"] == 1 and r["mean"] == 40.0 and r["rim_mean"] == 100.0
    assert r["rim"] == {2: 1.0}
    assert r["sigma"] == pytest.approx(sigma) and r["cnr"] == pytest.approx(-60.0 / sigma)


def test_rim_excludes_air_and_invisible_tissue_has_zero_cnr(tissue_visibility):
    clean, labels = _scene()
    clean[labels == 1] = 100.0                            # same level as its surroundings
    noisy = clean + np.where(labels > 0, np.resize([5.0, -5.0], clean.shape), 0.0)
    r = tissue_visibility.rim_contrast(clean, noisy, labels, 2)   # label 2 touches air: air is not rim
    assert set(r["rim"]) == {1}
    r1 = tissue_visibility.rim_contrast(clean, noisy, labels, 1)
    assert r1["cnr"] == pytest.approx(0.0)
    missing = tissue_visibility.rim_contrast(clean, noisy, labels, 7)
    assert missing["n"] == 0 and np.isnan(missing["cnr"])
