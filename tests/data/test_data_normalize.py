import numpy as np
import pytest

from cyclescan.data.normalize import (NormStats, denormalize, domain_stats, fit_stats, foreground_mask,
                                      intensity_quantiles, normalize)
from cyclescan.errors import InputError


def _scan(seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.meshgrid(*[np.linspace(-1, 1, n) for n in (8, 32, 32)], indexing="ij")
    body = zz ** 2 / 0.8 + yy ** 2 / 0.5 + xx ** 2 / 0.5 < 1
    arr = np.where(body, 1500 + 500 * yy, 20) + rng.normal(0, 15, body.shape)
    return (arr * scale).astype(np.float32), body


def test_window_maps_to_unit_range_and_inverts():
    arr, _ = _scan()
    stats = fit_stats(arr, 0.5, 99.5)
    assert stats == NormStats(*np.percentile(arr.astype(np.float64), [0.5, 99.5]))
    y = normalize(arr, stats)
    assert y.dtype == np.float32 and y.min() == -1.0 and y.max() == 1.0
    inside = (arr >= stats.lo) & (arr <= stats.hi)
    np.testing.assert_allclose(denormalize(y, stats)[inside], arr[inside], rtol=1e-5, atol=1e-2)
    assert NormStats.from_dict(stats.to_dict()) == stats


def test_foreground_mask_and_masked_window_ignore_air():
    arr, body = _scan()
    mask = foreground_mask(arr)
    assert (mask == body).mean() > 0.97
    masked = fit_stats(arr, 1.0, 99.0, mask)
    assert masked.lo > 900  # not air
    # Same window whatever the scanner's scale (16-bit vs float): model space is scale-free.
    arr2, _ = _scan(scale=37.0)
    np.testing.assert_allclose(normalize(arr2, fit_stats(arr2, 1, 99, foreground_mask(arr2))),
                               normalize(arr, masked), atol=1e-4)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_rejected(bad):
    arr, _ = _scan()
    arr[0, 0, 0] = bad
    with pytest.raises(InputError, match="NaN/Inf"):
        fit_stats(arr, 0.5, 99.5)


def test_constant_rejected():
    with pytest.raises(InputError, match="constant"):
        fit_stats(np.full((4, 4, 4), 3.0), 0.5, 99.5)


def test_domain_stats_and_quantiles():
    s = domain_stats([NormStats(0, 10), NormStats(2, 30), NormStats(1, 20)])
    assert s == NormStats(1, 20)
    arrs = [normalize(a, fit_stats(a, 0.5, 99.5)) for a, _ in (_scan(0), _scan(1))]
    q = intensity_quantiles(arrs, n=64)
    assert q.shape == (64,) and q.dtype == np.float32 and np.all(np.diff(q) >= 0)
    assert -1 <= q[0] and q[-1] <= 1 and q[32] > -0.5  # foreground only


def test_foreground_mask_keeps_dark_tissue_beside_bright_tissue():
    """CISS-like knee: air, a large dark class (muscle/cartilage 400) and a large bright class (fat
    2000). Otsu split dark from bright tissue and dropped the dark class from the mask, so the
    percentile window clipped it to -1 (the air level); the triangle threshold keeps it."""
    rng = np.random.default_rng(3)
    arr = rng.rayleigh(30, (8, 64, 64)).astype(np.float32)  # air: Rician noise magnitude
    arr[:, 8:56, 8:32] = 400 + rng.normal(0, 30, (8, 48, 24))  # dark tissue
    arr[:, 8:56, 32:56] = 2000 + rng.normal(0, 30, (8, 48, 24))  # bright tissue
    tissue = np.zeros(arr.shape, dtype=bool)
    tissue[:, 8:56, 8:56] = True
    mask = foreground_mask(arr)
    assert mask[:, 8:56, 8:32].mean() > 0.99 and mask[:, 8:56, 32:56].mean() > 0.99
    assert mask[~tissue].mean() < 0.02
    y = normalize(arr, fit_stats(arr, 0.5, 99.5, mask))
    dark = y[:, 10:54, 10:30]
    assert (dark <= -1.0).mean() < 0.05  # dark tissue is not clipped to the air level (Otsu: all of it)
    assert np.median(y[~tissue]) == -1.0


def test_foreground_mask_covers_every_phantom_tissue(tmp_path):
    """On a rendered phantom CISS and DESS, >= 97 % of all tissue voxels are in the mask (each
    soft tissue >= 90 %) and < 10 % of the air label is (the partial-volume skin edge at this coarse 64x64 grid)."""
    import nibabel as nib

    from cyclescan.phantom.dataset import generate_dataset

    out = tmp_path / "ph"
    generate_dataset(out, train_subjects=1, val_subjects=0, test_subjects=1, shape=(16, 64, 64), seed=1,
                     preview=False)
    labels = np.asarray(nib.load(next((out / "test" / "labels").glob("*.nii.gz"))).dataobj)
    for contrast in ("ciss", "dess"):
        arr = np.asarray(nib.load(next((out / "test" / contrast).glob("*.nii.gz"))).dataobj, dtype=np.float32)
        mask = foreground_mask(arr)
        assert mask[labels > 0].mean() > 0.97, contrast
        assert mask[labels == 0].mean() < 0.10, contrast  # the partial-volume skin edge (2.3 mm voxels)
        for lab in (2, 3, 10, 14):  # muscle, fluid, femoral cartilage, ACL
            assert mask[labels == lab].mean() > 0.9, (contrast, lab)
