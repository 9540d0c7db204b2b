import nibabel as nib
import numpy as np
import pytest

from cyclescan.errors import InputError
from cyclescan.io import Volume, read_volume, write_nifti


def _oblique_affine():
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    aff = np.eye(4)
    aff[:3, :3] = q * np.array([3.0, 0.7, 0.6])
    aff[:3, 3] = [-12.5, 40.0, 3.25]
    return aff


def test_nifti_roundtrip_float32_exact(tmp_path):
    arr = np.random.default_rng(0).normal(100, 30, (6, 10, 12)).astype(np.float32)
    vol = Volume(arr, _oblique_affine(), {})
    write_nifti(vol, tmp_path / "v.nii.gz")
    back = read_volume(tmp_path / "v.nii.gz")
    assert back.shape == (6, 10, 12)
    np.testing.assert_array_equal(back.array, arr)
    np.testing.assert_allclose(back.affine, vol.affine, atol=1e-6)
    np.testing.assert_allclose(back.spacing, [3.0, 0.7, 0.6], atol=1e-6)
    assert back.meta["source_dtype"] == "float32"


def test_nifti_input_dtype_keeps_int16(tmp_path):
    arr = np.random.default_rng(0).integers(-500, 3000, (5, 8, 8)).astype(np.int16)
    nib.save(nib.Nifti1Image(arr, np.diag([0.5, 0.5, 2.0, 1.0])), str(tmp_path / "in.nii"))
    vol = read_volume(tmp_path / "in.nii")
    assert vol.array.dtype == np.float32 and vol.meta["source_dtype"] == "int16"
    write_nifti(vol, tmp_path / "out.nii.gz", dtype="input")
    img = nib.load(str(tmp_path / "out.nii.gz"))
    assert img.get_data_dtype() == np.int16
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), arr)
    # Non-integer data into an integer dtype are scaled by nibabel, within one quantum.
    write_nifti(vol.with_array(vol.array * 0.3), tmp_path / "scaled.nii.gz", dtype="input")
    back = read_volume(tmp_path / "scaled.nii.gz")
    assert np.abs(back.array - vol.array * 0.3).max() < (3000 + 500) * 0.3 / 30000


def test_4d_selects_volume(corpus):
    with pytest.raises(InputError, match="choose one with --echo"):
        read_volume(corpus["image_4d"])
    v2 = read_volume(corpus["image_4d"], echo=2)
    raw = np.asanyarray(nib.load(str(corpus["image_4d"])).dataobj)
    np.testing.assert_array_equal(v2.array, raw[..., 1])
    with pytest.raises(InputError, match="out of range"):
        read_volume(corpus["image_4d"], echo=4)


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    vol = Volume(np.zeros((3, 4, 5), np.float32), np.eye(4), {})

    def boom(img, filename):
        with open(filename, "wb") as fh:
            fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(nib, "save", boom)
    with pytest.raises(OSError):
        write_nifti(vol, tmp_path / "x.nii.gz")
    assert list(tmp_path.iterdir()) == []


def test_write_rejects_bad_suffix(tmp_path):
    with pytest.raises(InputError, match="nii"):
        write_nifti(Volume(np.zeros((2, 2, 2)), np.eye(4)), tmp_path / "x.png")
