"""scripts/discriminator_probe.py: the manipulation, the patch placement and the scoring, by hand."""

from __future__ import annotations

import numpy as np
import torch


def test_scale_tissue_touches_only_that_tissue(discriminator_probe):
    arr = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    labels = np.zeros((2, 3, 4), dtype=np.int64)
    labels[1, 2, 1:3] = 3
    out = discriminator_probe.scale_tissue(arr, labels, 3, 0.5)
    want = arr.copy()
    want[1, 2, 1:3] = [10.5, 11.0]  # 21 and 22 halved
    np.testing.assert_array_equal(out, want)
    assert out is not arr and arr[1, 2, 1] == 21  # the input is left alone


def test_centred_starts_keep_the_voxel_inside_and_the_patch_inside_the_volume(discriminator_probe):
    labels = np.zeros((6, 20, 20), dtype=np.int64)
    voxels = [(0, 0, 0), (5, 19, 19), (3, 10, 10)]
    for v in voxels:
        labels[v] = 7
    patch = [4, 8, 8]
    starts = discriminator_probe.centred_starts(labels, 7, patch, 10, np.random.default_rng(0))
    assert len(starts) == 3  # at most one patch per tissue voxel
    covered = set()
    for st in starts:
        assert all(0 <= s <= n - p for s, p, n in zip(st, patch, labels.shape))
        inside = [v for v in voxels if all(s <= c < s + p for c, s, p in zip(v, st, patch))]
        covered.update(inside)
    assert covered == set(voxels)
    assert (3 - 2, 10 - 4, 10 - 4) in starts  # an interior voxel sits at the patch centre (p // 2)
    assert discriminator_probe.centred_starts(labels, 8, patch, 10, np.random.default_rng(0)) == []


def test_patch_scores_are_the_mean_of_the_score_map(discriminator_probe):
    arr = np.arange(4 * 6 * 6, dtype=np.float32).reshape(4, 6, 6)

    class Mean(torch.nn.Module):  # a "discriminator" whose map is the input itself
        def forward(self, x):
            return x

    got = discriminator_probe.patch_scores(Mean(), [arr, arr], [(0, 0, 0), (1, 2, 3)], [2, 3, 3])
    assert got == [float(arr[0:2, 0:3, 0:3].mean()), float(arr[1:3, 2:5, 3:6].mean())]
    fake = torch.full((1, 1, 2, 3, 3), 0.25)  # tensors (generator outputs) are scored as they are
    assert discriminator_probe.patch_scores(Mean(), [fake], [(0, 0, 0)], [2, 3, 3]) == [0.25]


def test_summary_rows_average_subjects(discriminator_probe):
    recs = [{"contrast": "ciss", "tissue": "fluid", "factor": 0.15, "real": r, "scaled": s, "model": 0.4, "other": 0.1}
            for r, s in ((0.6, 0.5), (0.4, 0.5))]
    (row,) = discriminator_probe.summary_rows(recs)
    assert row[:4] == ("ciss", "fluid", "x0.15", 2)
    assert row[4:7] == ("0.500", "0.500", "+0.000")


def test_patch_scores_append_the_position_map_when_given_a_box(discriminator_probe):
    from cyclescan.data.patches import position_map

    arr = np.zeros((4, 6, 6), dtype=np.float32)
    box = np.array([[0.0, 0.0, 0.0], [3.0, 5.0, 5.0]])
    seen = []

    class Spy(torch.nn.Module):
        def forward(self, x):
            seen.append(x.clone())
            return x[:, :1]

    discriminator_probe.patch_scores(Spy(), [arr], [(1, 2, 3)], [2, 3, 3], box=box)
    assert seen[0].shape == (1, 4, 2, 3, 3)
    np.testing.assert_array_equal(seen[0][0, 1:].numpy(), position_map((1, 2, 3), [2, 3, 3], box))
