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
    assert set(out) == {"acquired target", "voxel-wise lookup (LOO)", "voxel-wise oracle", "tissue-mean oracle"}
    # the acquired target differs from the clean truth by noise only: the best SSIM of all
    assert out["acquired target"]["ssim"] == max(r["ssim"] for r in out.values())
    assert out["acquired target"]["ssim"] > 0.8
    # the lookup fit on the scored subject itself (MSE-optimal binned map) beats the one fit on others
    assert out["voxel-wise oracle"]["psnr"] >= out["voxel-wise lookup (LOO)"]["psnr"] - 0.1
    for r in out.values():
        assert -1.0 <= r["ssim"] <= 1.0 and np.isfinite(r["psnr"])
