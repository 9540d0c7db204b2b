import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from cyclescan.io import Volume, list_echoes, read_dicom_echoes, read_volume, write_dicom_series
from cyclescan.io.dicom import LPS_TO_RAS


def _sitk_affine_ras(img: sitk.Image) -> np.ndarray:
    """SimpleITK geometry (x,y,z index order, LPS) -> our (d,h,w) RAS affine."""
    direction = np.array(img.GetDirection()).reshape(3, 3) * np.array(img.GetSpacing())
    lps = np.eye(4)
    lps[:3, [2, 1, 0]] = direction  # sitk index (x=w, y=h, z=d)
    lps[:3, 3] = img.GetOrigin()
    return LPS_TO_RAS @ lps


def _rotated_affine(handed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    aff = np.eye(4)
    aff[:3, :3] = q * np.array([2.5 * handed, 0.8, 0.9])
    aff[:3, 3] = [5.0, -7.0, 30.0]
    return aff


@pytest.mark.parametrize("handed", [1, -1])
def test_dicom_write_read_roundtrip(tmp_path, handed):
    arr = np.round(np.random.default_rng(0).normal(300, 100, (5, 12, 10))).astype(np.float32)
    vol = Volume(arr, _rotated_affine(handed), {})
    out = write_dicom_series(vol, tmp_path / "series", None, "roundtrip test")
    back = read_volume(out)
    np.testing.assert_array_equal(back.array, arr)  # integer data are stored exactly
    np.testing.assert_allclose(back.affine, vol.affine, atol=1e-4)
    # Floating-point data: one series-wide slope; error within half a quantum.
    vol2 = vol.with_array(arr * 0.013 - 2.0)
    back2 = read_volume(write_dicom_series(vol2, tmp_path / "series", None, "x"))
    span = np.abs(vol2.array).max()
    assert np.abs(back2.array - vol2.array).max() <= span / 32000 + 1e-6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["series"]  # no temp folders left


def test_dicom_output_is_a_proper_derived_series(tmp_path):
    aff = _rotated_affine()
    src_dir = write_dicom_series(Volume(np.ones((3, 8, 8), np.float32) * np.arange(3)[:, None, None] + 1, aff, {}),
                                 tmp_path / "src", None, "source")
    src = read_volume(src_dir)
    out = write_dicom_series(src.with_array(src.array * 2), tmp_path / "out", src, "CycleScan dess from source (m1)")
    files = sorted(out.iterdir())
    a, b = pydicom.dcmread(files[0]), pydicom.dcmread(next(src_dir.iterdir()))
    assert a.SeriesInstanceUID != b.SeriesInstanceUID and a.SOPInstanceUID != b.SOPInstanceUID
    assert a.StudyInstanceUID == b.StudyInstanceUID and a.FrameOfReferenceUID == b.FrameOfReferenceUID
    assert list(a.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert a.SeriesDescription == "CycleScan dess from source (m1)"
    assert a.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    # An independent reader (ITK/GDCM, as PACS viewers use) sees the same geometry.
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(out)))
    img = reader.Execute()
    aff, ref = _sitk_affine_ras(img), sitk.GetArrayFromImage(img)
    if np.dot(aff[:3, 0], src.affine[:3, 0]) < 0:  # ITK sorts along the normal; we follow InstanceNumber
        aff = aff @ _flip_d(ref.shape[0])
        ref = ref[::-1]
    np.testing.assert_allclose(aff, src.affine, atol=1e-4)
    np.testing.assert_allclose(ref, src.array * 2, atol=1e-3)


def _flip_d(n: int) -> np.ndarray:
    m = np.diag([-1.0, 1.0, 1.0, 1.0])
    m[0, 3] = n - 1
    return m


def test_synthetic_multi_echo_split(corpus):
    echoes = list_echoes(corpus["dicom_multi_echo"])
    assert [(e["echo"], e["echo_number"], e["echo_time"], e["n_slices"]) for e in echoes] == \
        [(1, 1, 10.0, 5), (2, 2, 20.0, 5)]
    e1, e2 = (read_volume(corpus["dicom_multi_echo"], echo=k) for k in (1, 2))
    assert e1.shape == e2.shape == (5, 16, 16)
    np.testing.assert_allclose(e1.affine, e2.affine)
    assert not np.array_equal(e1.array, e2.array)


# -- real data: ../shared/data/knee_mese_t2 (skipped when absent) -------------------------------------

@pytest.fixture(scope="module")
def mese(mese_dir):
    return read_dicom_echoes(mese_dir)


@pytest.mark.realdata
def test_mese_echoes_listed(mese_dir):
    echoes = list_echoes(mese_dir)
    assert [e["echo_number"] for e in echoes] == list(range(1, 9))
    np.testing.assert_allclose([e["echo_time"] for e in echoes], 6.312 * np.arange(1, 9), atol=1e-3)
    assert all(e["n_slices"] == 24 for e in echoes)


@pytest.mark.realdata
def test_mese_each_echo_volume_and_affine(mese, mese_dir):
    assert len(mese) == 8
    for k, vol in enumerate(mese, start=1):
        assert vol.shape == (24, 256, 256) and vol.array.dtype == np.float32
        assert vol.meta["echo"] == k
        np.testing.assert_array_equal(vol.affine, mese[0].affine)
    np.testing.assert_allclose(mese[0].spacing, [4.0, 0.625, 0.625], atol=1e-4)  # 3 mm slices + 1 mm gaps
    # The affine reproduces every slice's DICOM geometry.
    files = {}
    for f in sorted(mese_dir.iterdir()):
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        if int(ds.EchoNumbers) == 1:
            files[tuple(np.round(np.array(ds.ImagePositionPatient, float), 3))] = ds
    lps = LPS_TO_RAS @ mese[0].affine
    ds0 = next(iter(files.values()))
    row, col = np.array(ds0.ImageOrientationPatient[:3], float), np.array(ds0.ImageOrientationPatient[3:], float)
    np.testing.assert_allclose(lps[:3, 2], row * float(ds0.PixelSpacing[1]), atol=1e-6)
    np.testing.assert_allclose(lps[:3, 1], col * float(ds0.PixelSpacing[0]), atol=1e-6)
    for d in range(24):
        pos = tuple(np.round(lps[:3, 3] + d * lps[:3, 0], 3))
        match = [p for p in files if np.allclose(p, pos, atol=2e-3)]
        assert len(match) == 1, f"slice {d} at {pos} does not match an ImagePositionPatient"
    assert np.linalg.matrix_rank(lps[:3, :3]) == 3 and abs(row @ col) < 1e-4  # oblique but orthogonal


@pytest.mark.realdata
def test_mese_pixels_match_itk(mese, mese_dir):
    """Big-endian signed pixel data decode to the same values and geometry as ITK/GDCM reads."""
    e1 = sorted(str(f) for f in mese_dir.iterdir() if int(pydicom.dcmread(f, stop_before_pixels=True).EchoNumbers) == 1)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(e1)
    img = reader.Execute()
    ref = sitk.GetArrayFromImage(img).astype(np.float32)  # (z, y, x) = (d, h, w)
    aff = _sitk_affine_ras(img)
    if np.dot(aff[:3, 0], mese[0].affine[:3, 0]) < 0:  # ITK may order slices the other way
        ref = ref[::-1]
    np.testing.assert_array_equal(mese[0].array, ref)
    assert mese[0].array.max() > 1000 and mese[7].array.mean() < mese[0].array.mean()  # T2 decay


@pytest.mark.realdata
def test_mese_dicom_rewrite_keeps_geometry(mese, tmp_path):
    out = write_dicom_series(mese[7], tmp_path / "echo8", mese[7], "CycleScan test")
    back = read_volume(out)
    np.testing.assert_allclose(back.affine, mese[7].affine, atol=1e-4)
    np.testing.assert_array_equal(back.array, mese[7].array)
    ds = pydicom.dcmread(next(out.iterdir()))
    assert ds.StudyInstanceUID == mese[7].meta["dicom"]["StudyInstanceUID"] and float(ds.SliceThickness) == 3.0


def test_derived_series_keeps_identity_but_not_the_source_sequence_parameters(tmp_path):
    header = {"PatientID": "P1", "PatientName": "Doe^J", "EchoTime": "6.312", "RepetitionTime": "2000",
              "ScanningSequence": "SE", "SequenceVariant": "SK", "MRAcquisitionType": "2D", "Manufacturer": "X"}
    aff = np.diag([4.0, 0.625, 0.625, 1.0])
    aff[0, 0] = 3.9999984734  # slice step with the float noise of measured positions
    src = Volume(np.ones((3, 8, 8), np.float32), aff, {"dicom": header})
    out = write_dicom_series(src.with_array(src.array * 2), tmp_path / "out", src, "CycleScan dess")
    ds = pydicom.dcmread(sorted(out.iterdir())[0])
    assert ds.PatientID == "P1" and str(ds.PatientName) == "Doe^J" and ds.Manufacturer == "X"
    assert "EchoTime" not in ds and "RepetitionTime" not in ds
    assert ds.ScanningSequence == "RM" and ds.SequenceVariant == "NONE"  # research mode: not acquired
    assert float(ds.SpacingBetweenSlices) == 4.0
