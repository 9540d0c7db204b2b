"""Write a Volume as a new DICOM MR series (pydicom) that keeps the geometry of its source.

The series is a derived secondary image series (ImageType DERIVED\\SECONDARY) with a new
SeriesInstanceUID and SOPInstanceUIDs; patient/study identity and FrameOfReferenceUID come from
the source DICOM (``source.meta["dicom"]``) so a PACS files it next to the original study.
Pixels are signed 16-bit with one RescaleSlope/RescaleIntercept for the whole series (integer
valued volumes within int16 are stored exactly). The folder appears atomically: slices are written
into a hidden temporary folder next to ``out_dir`` which is renamed at the end.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, PYDICOM_IMPLEMENTATION_UID, generate_uid

from cyclescan import __version__
from cyclescan.errors import InputError
from cyclescan.io.dicom import LPS_TO_RAS
from cyclescan.io.volume import Volume

# Patient/study identity and scanner context copied verbatim from the source header when present.
# The source's sequence parameters (EchoTime, RepetitionTime, ScanningSequence, ...) are *not*
# copied: they describe the acquired source contrast, not the translated one, and a reader that
# sorts or labels series by TE would take the translation for another echo of the source.
_COPY = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge", "PatientPosition",
    "StudyInstanceUID", "StudyID", "StudyDate", "StudyTime", "StudyDescription", "AccessionNumber",
    "ReferringPhysicianName", "FrameOfReferenceUID", "Manufacturer", "MagneticFieldStrength", "BodyPartExamined",
)


def _ds(x: float) -> str:
    """Decimal String (max 16 characters) with as many significant digits as fit."""
    for digits in range(12, 5, -1):
        s = f"{x:.{digits}g}"
        if len(s) <= 16:
            return s
    return f"{x:.6g}"


def _encode(array: np.ndarray) -> tuple[np.ndarray, float, float]:
    """float (D, H, W) -> (int16 stored values, slope, intercept) with value = slope*stored + intercept."""
    finite = np.isfinite(array)
    if not finite.all():
        raise InputError("cannot write a DICOM series with NaN/Inf voxels")
    lo, hi = float(array.min()), float(array.max())
    if np.array_equal(array, np.round(array)) and lo >= -32768 and hi <= 32767:
        return array.astype(np.int16), 1.0, 0.0
    intercept = float(_ds((hi + lo) / 2.0))
    slope = float(_ds(max(hi - intercept, intercept - lo) / 32000.0)) or 1.0
    stored = np.clip(np.round((array.astype(np.float64) - intercept) / slope), -32768, 32767)
    return stored.astype(np.int16), slope, intercept


def _geometry(affine: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[float], float]:
    """RAS affine -> (LPS affine, row cosines, column cosines, PixelSpacing, slice step)."""
    lps = LPS_TO_RAS @ affine  # LPS_TO_RAS is its own inverse
    col_vec, row_vec = lps[:3, 1], lps[:3, 2]  # H moves along the column direction, W along the row
    row_sp, col_sp = float(np.linalg.norm(col_vec)), float(np.linalg.norm(row_vec))
    row_cos, col_cos = row_vec / col_sp, col_vec / row_sp
    if abs(float(row_cos @ col_cos)) > 1e-4:
        raise InputError(f"{name}: the in-plane axes of the affine are not orthogonal; DICOM cannot store it")
    return lps, row_cos, col_cos, [row_sp, col_sp], float(np.linalg.norm(lps[:3, 0]))


def _window(array: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(array[:: max(1, array.shape[0] // 8)], [0.5, 99.5])
    return float((lo + hi) / 2.0), float(max(hi - lo, 1.0))


def _slice_dataset(common: Dataset, k: int, lps: np.ndarray, normal: np.ndarray, stored: np.ndarray) -> Dataset:
    ds = Dataset()
    ds.update(common)
    uid = generate_uid()
    ds.SOPInstanceUID = uid
    pos = lps @ np.array([k, 0.0, 0.0, 1.0])
    ds.ImagePositionPatient = [_ds(float(v)) for v in pos[:3]]
    ds.SliceLocation = _ds(float(pos[:3] @ normal))
    ds.InstanceNumber = k + 1
    ds.PixelData = np.ascontiguousarray(stored[k].astype("<i2")).tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    return ds


def write_dicom_series(vol: Volume, out_dir: str | Path, source: Volume | None = None,
                       description: str = "CycleScan output") -> Path:
    """Write ``vol`` (D, H, W) as a DICOM MR series in ``out_dir`` (one file per slice); return ``out_dir``.

    Args:
        vol: the volume to store; its affine gives every slice's position/orientation.
        out_dir: folder to create (replaced atomically if it exists).
        source: the volume it was derived from (patient/study identity, FrameOfReferenceUID,
            scanner context; not its sequence parameters); ``vol.meta["dicom"]`` is used when None.
        description: SeriesDescription (max 64 characters), e.g. "CycleScan dess from <series> (<model>)".
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder")
    array = np.asarray(vol.array, dtype=np.float32)
    stored, slope, intercept = _encode(array)
    lps, row_cos, col_cos, pixel_spacing, step = _geometry(vol.affine, str(out_dir))
    header: dict[str, Any] = dict((source.meta if source is not None else vol.meta).get("dicom", {}))
    now = datetime.datetime.now()
    common = Dataset()
    for key in _COPY:
        if header.get(key) not in (None, ""):
            setattr(common, key, header[key])
    common.PatientName = header.get("PatientName", "ANONYMOUS")
    common.PatientID = header.get("PatientID", "CYCLESCAN")
    common.StudyInstanceUID = header.get("StudyInstanceUID") or generate_uid()
    common.FrameOfReferenceUID = header.get("FrameOfReferenceUID") or generate_uid()
    for key in ("StudyDate", "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName",
                "PatientBirthDate", "PatientSex", "ScanningSequence", "SequenceVariant", "MRAcquisitionType"):
        if key not in common:
            setattr(common, key, {"StudyDate": now.strftime("%Y%m%d"), "StudyTime": now.strftime("%H%M%S"),
                                  "ScanningSequence": "RM", "SequenceVariant": "NONE"}.get(key, ""))
    common.SOPClassUID = MRImageStorage
    common.Modality = "MR"
    common.SeriesInstanceUID = generate_uid()
    common.SeriesNumber = 9000 + int(header.get("SeriesNumber", 0) or 0) % 1000
    common.SeriesDescription = description[:64]
    common.ImageType = ["DERIVED", "SECONDARY"]
    common.DerivationDescription = f"{description} [cyclescan {__version__}]"[:1024]
    common.SeriesDate = common.ContentDate = now.strftime("%Y%m%d")
    common.SeriesTime = common.ContentTime = now.strftime("%H%M%S")
    common.Manufacturer = header.get("Manufacturer", "")
    common.SoftwareVersions = f"cyclescan {__version__}"
    common.ImageOrientationPatient = [_ds(float(v)) for v in (*row_cos, *col_cos)]
    common.PixelSpacing = [_ds(v) for v in pixel_spacing]
    common.SliceThickness = _ds(float(header.get("SliceThickness", step) or step))
    common.SpacingBetweenSlices = _ds(round(step, 5))  # positions carry float noise (3.9999985 for 4)
    common.Rows, common.Columns = int(array.shape[1]), int(array.shape[2])
    common.SamplesPerPixel = 1
    common.PhotometricInterpretation = "MONOCHROME2"
    common.BitsAllocated, common.BitsStored, common.HighBit, common.PixelRepresentation = 16, 16, 15, 1
    common.RescaleSlope, common.RescaleIntercept, common.RescaleType = _ds(slope), _ds(intercept), "US"
    centre, width = _window(array)
    common.WindowCenter, common.WindowWidth = _ds(centre), _ds(width)
    normal = np.cross(row_cos, col_cos)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".part", dir=out_dir.parent))
    try:
        for k in range(array.shape[0]):
            ds = _slice_dataset(common, k, lps, normal, stored)
            f = tmp / f"IM{k + 1:04d}.dcm"
            ds.save_as(f, enforce_file_format=True)
            with open(f, "rb+") as fh:
                os.fsync(fh.fileno())
        old = None
        if out_dir.exists():
            old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise
    return out_dir
