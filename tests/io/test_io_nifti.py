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


def _rot(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def _affine(m: np.ndarray, origin=(10.0, -20.0, 30.0)) -> np.ndarray:
    a = np.eye(4)
    a[:3, :3], a[:3, 3] = m, origin
    return a


def _roundtrip(tmp_path, img: nib.Nifti1Image) -> nib.Nifti1Image:
    nib.save(img, str(tmp_path / "in.nii.gz"))
    vol = read_volume(tmp_path / "in.nii.gz")
    write_nifti(vol.with_array(vol.array * 2), tmp_path / "out.nii.gz")  # a translation keeps the grid
    return nib.load(str(tmp_path / "out.nii.gz"))


def test_sform_and_a_different_qform_keep_their_codes_and_values(tmp_path):
    data = np.random.default_rng(0).random((5, 6, 7)).astype(np.float32)
    img = nib.Nifti1Image(data, None)
    sform, qform = _affine(_rot(20) @ np.diag([2.0, 1.0, 1.5])), _affine(np.diag([2.0, 1.0, 1.5]), (1.0, 2.0, 3.0))
    img.set_sform(sform, code=2)
    img.set_qform(qform, code=1)
    out = _roundtrip(tmp_path, img)
    assert int(out.header["sform_code"]) == 2 and int(out.header["qform_code"]) == 1
    np.testing.assert_allclose(out.get_sform(), sform, atol=1e-5)
    np.testing.assert_allclose(out.get_qform(), qform, atol=1e-5)


@pytest.mark.parametrize("codes", [(4, 0), (0, 1), (0, 0)])
def test_other_code_combinations_are_kept_and_read_back_to_the_same_affine(tmp_path, codes):
    data = np.random.default_rng(0).random((5, 6, 7)).astype(np.float32)
    a = _affine(_rot(30) @ np.diag([0.5, 0.5, 3.0]))
    img = nib.Nifti1Image(data, a)
    img.set_sform(a, code=codes[0])
    img.set_qform(a, code=codes[1])
    out = _roundtrip(tmp_path, img)
    assert (int(out.header["sform_code"]), int(out.header["qform_code"])) == codes
    np.testing.assert_allclose(out.affine, nib.load(str(tmp_path / "in.nii.gz")).affine, atol=1e-5)


def test_sheared_affine_is_written_without_a_qform(tmp_path):
    shear = np.array([[1.0, 0.3, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    vol = Volume(np.zeros((4, 5, 6), np.float32), _affine(shear))  # no NIfTI header: default codes
    write_nifti(vol, tmp_path / "s.nii.gz")
    out = nib.load(str(tmp_path / "s.nii.gz"))
    assert int(out.header["qform_code"]) == 0 and int(out.header["sform_code"]) == 1
    np.testing.assert_allclose(out.affine, vol.affine, atol=1e-6)
    rigid = Volume(np.zeros((4, 5, 6), np.float32), _affine(_rot(10) @ np.diag([1.0, 2.0, 3.0])))
    write_nifti(rigid, tmp_path / "r.nii.gz")
    assert int(nib.load(str(tmp_path / "r.nii.gz")).header["qform_code"]) == 1


@pytest.mark.parametrize("unit,to_mm", [("micron", 0.001), ("meter", 1000.0), ("mm", 1.0)])
def test_spatial_units_are_converted_to_mm(tmp_path, unit, to_mm):
    a = _affine(np.diag([200.0, 300.0, 400.0]), (1000.0, 2000.0, -500.0))
    img = nib.Nifti1Image(np.ones((3, 4, 5), np.float32), a)
    img.header.set_xyzt_units(unit, "sec")
    nib.save(img, str(tmp_path / "u.nii.gz"))
    vol = read_volume(tmp_path / "u.nii.gz")
    np.testing.assert_allclose(vol.spacing, np.array([200.0, 300.0, 400.0]) * to_mm)
    np.testing.assert_allclose(vol.affine[:3, 3], np.array([1000.0, 2000.0, -500.0]) * to_mm)
    write_nifti(vol, tmp_path / "o.nii.gz")
    out = nib.load(str(tmp_path / "o.nii.gz"))
    assert out.header.get_xyzt_units()[0] == "mm"
    np.testing.assert_allclose(out.affine, vol.affine, atol=1e-6)


def test_singleton_4th_dimension_is_restored_and_a_changed_grid_drops_the_input_header(tmp_path):
    img = nib.Nifti1Image(np.ones((3, 4, 5, 1), np.float32), _affine(np.eye(3)))
    img.set_qform(_affine(np.eye(3), (9.0, 9.0, 9.0)), code=1)  # differs from the sform
    out = _roundtrip(tmp_path, img)
    assert out.shape == (3, 4, 5, 1)
    vol = read_volume(tmp_path / "in.nii.gz")
    moved = Volume(vol.array, vol.affine @ np.diag([2.0, 1.0, 1.0, 1.0]), vol.meta)  # e.g. resampled
    write_nifti(moved, tmp_path / "m.nii.gz")
    got = nib.load(str(tmp_path / "m.nii.gz"))
    assert got.shape == (3, 4, 5)
    np.testing.assert_allclose(got.get_qform(), moved.affine, atol=1e-6)  # not the stale input qform
