"""The real-data split: A and B training sets and the test slab never share a voxel or a slice."""

from __future__ import annotations

import numpy as np
import pytest

from cyclescan.io import Volume


def _echoes(n: int = 24):
    """Two voxel-aligned 'echoes' whose voxels carry unique ids (echo B = -id), oblique affine."""
    ids = np.arange(n * 6 * 5, dtype=np.float32).reshape(n, 6, 5) + 1
    aff = np.array([[3.957, 0.09, 0.014, 29.0], [0.099, -0.012, -0.625, 103.4],
                    [0.577, -0.618, 0.014, 56.3], [0, 0, 0, 1]])
    return Volume(ids, aff), Volume(-ids, aff)


def test_default_split_is_disjoint_and_covers_the_series(realdata):
    realdata.check_split(realdata.DEFAULT_SPLIT, 24)
    covered = sorted(k for a, b in realdata.DEFAULT_SPLIT.values() for k in range(a, b))
    assert covered == list(range(24))


@pytest.mark.parametrize("split", [
    {"train_a": (0, 8), "train_b": (7, 15), "test": (16, 24)},   # A and B share slice 7
    {"train_a": (0, 8), "train_b": (8, 16), "test": (15, 24)},   # test overlaps B
    {"train_a": (0, 8), "train_b": (8, 16), "test": (16, 25)},   # outside the series
    {"train_a": (3, 3), "train_b": (8, 16), "test": (16, 24)},   # empty slab
])
def test_bad_splits_are_refused(realdata, split):
    with pytest.raises(ValueError):
        realdata.check_split(split, 24)


def test_slabs_hold_exactly_their_slices_and_never_share_voxels(realdata):
    va, vb = _echoes()
    out = realdata.make_slabs(va, vb, realdata.DEFAULT_SPLIT)
    ids = {k: {int(abs(x)) for v in vols for x in v.array.ravel()} for k, vols in out.items()}
    # the model's inputs: A training, B training, and the test slab are pairwise disjoint
    assert not ids["train_a"] & ids["train_b"]
    assert not (ids["train_a"] | ids["train_b"]) & ids["test_a"]
    assert ids["test_a"] == ids["test_b"]  # the test pair is voxel-aligned (same anatomy)
    # domain A training is echo A only, domain B training echo B only
    assert (out["train_a"][0].array > 0).all() and (out["train_b"][0].array < 0).all()
    # the lookup's pairs are the training slabs only, never the test slab
    assert ids["pairs_a"] == ids["train_a"] | ids["train_b"]
    a, b = realdata.DEFAULT_SPLIT["test"]
    np.testing.assert_array_equal(out["test_a"][0].array, va.array[a:b])


def test_slab_affine_keeps_every_voxel_in_place(realdata):
    va, _ = _echoes()
    s = realdata.slab(va, 8, 16)
    for idx in [(0, 0, 0), (3, 5, 4), (7, 2, 1)]:
        world_slab = s.affine @ np.array([*idx, 1.0])
        world_full = va.affine @ np.array([idx[0] + 8, idx[1], idx[2], 1.0])
        np.testing.assert_allclose(world_slab, world_full, atol=1e-9)
        assert s.array[idx] == va.array[idx[0] + 8, idx[1], idx[2]]
