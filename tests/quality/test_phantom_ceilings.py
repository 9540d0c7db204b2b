"""scripts/phantom_ceilings.py: the truth-reading references that bracket the phantom goal."""

from __future__ import annotations

import numpy as np
import pytest

from cyclescan.phantom import generate_dataset


@pytest.fixture(scope="module")
def tiny_phantom(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("ph") / "out", train_subjects=1, val_subjects=0,
                            test_subjects=3, shape=(16, 32, 32), snr=25.0, seed=5)


def test_per_label_mean_by_hand(phantom_ceilings):
    values = np.array([[1.0, 3.0, 5.0, 7.0]])
    labels = np.array([[0, 0, 2, 2]])
    np.testing.assert_allclose(phantom_ceilings.per_label_mean(values, labels), [2.0, 0.0, 6.0])


def test_reference_ordering_on_a_tiny_phantom(phantom_ceilings, tiny_phantom):
    out = phantom_ceilings.ceilings(tiny_phantom, "ciss", "dess")
    assert set(out) == {"acquired target", "voxel-wise lookup (LOO)", "voxel-wise oracle", "tissue-mean oracle",
                        "tissue-ratio oracle (noisy source)", "tissue-ratio oracle (clean source)"}
    # the clean source carries no noise into the ratio map
    assert out["tissue-ratio oracle (clean source)"]["psnr"] > out["tissue-ratio oracle (noisy source)"]["psnr"]
    # the acquired target differs from the clean truth by noise only: the best SSIM of all
    assert out["acquired target"]["ssim"] == max(r["ssim"] for r in out.values())
    assert out["acquired target"]["ssim"] > 0.8
    # the lookup fit on the scored subject itself (MSE-optimal binned map) beats the one fit on others
    assert out["voxel-wise oracle"]["psnr"] >= out["voxel-wise lookup (LOO)"]["psnr"] - 0.1
    for r in out.values():
        assert -1.0 <= r["ssim"] <= 1.0 and np.isfinite(r["psnr"])


def test_tissue_ratio_reproduces_a_per_tissue_scaling_with_its_texture(phantom_ceilings):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=(4, 8, 8))
    src = rng.uniform(50, 150, size=labels.shape)  # texture + bias: varies inside every tissue
    ratio = np.array([1.0, 0.25, 3.0])
    tgt = src * ratio[labels]
    got = phantom_ceilings.tissue_ratio(src, tgt, labels, eps=0.0)
    np.testing.assert_allclose(got, ratio, rtol=1e-10)
    np.testing.assert_allclose(src * got[labels], tgt, rtol=1e-10)
    # geometric, not arithmetic, mean: ratios 1/2 and 2 average to 1
    src2, tgt2 = np.array([[1.0, 4.0]]), np.array([[0.5, 8.0]])
    np.testing.assert_allclose(phantom_ceilings.tissue_ratio(src2, tgt2, np.zeros((1, 2), int), eps=0.0), [1.0])
