"""Read a DICOM series directory into Volumes (pydicom): sorting, multi-echo split, geometry.

Rules (see docs/data.md):
- every file in the directory (not sub-folders) that pydicom can parse and that holds an image is
  a slice; other files (README, DICOMDIR, ...) are ignored;
- all slices must share one SeriesInstanceUID (else InputError: one series per folder);
- slices are grouped into echoes by EchoNumbers (EchoTime when EchoNumbers is absent); echoes are
  numbered 1..N by ascending (EchoNumbers, EchoTime); ``echo`` selects one, 1-based;
- within an echo, slices are sorted by position along the slice normal (rowcos x colcos), then the
  direction is chosen so InstanceNumber increases with the slice index (so a series written by
  ``write_dicom_series`` reads back with the same array and affine); slice gaps are fine, a
  missing slice (a step much larger than the others) or duplicated positions are errors;
- intensities are RescaleSlope * stored + RescaleIntercept per slice (pydicom handles
  signed/unsigned and big-endian pixel data), returned as float32.

Affine: LPS (DICOM patient space) -> RAS by negating x and y. Column 0 (D) is the mean step
between consecutive slice positions, column 1 (H) = column cosines * PixelSpacing[0] (row
spacing), column 2 (W) = row cosines * PixelSpacing[1], translation = first slice position.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_rescale

from cyclescan.errors import InputError
from cyclescan.io.volume import Volume

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
# Header fields copied into Volume.meta["dicom"] (identity for derived series, provenance).
META_KEYWORDS = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge", "PatientPosition",
    "StudyInstanceUID", "StudyID", "StudyDate", "StudyTime", "StudyDescription", "AccessionNumber",
    "ReferringPhysicianName", "SeriesInstanceUID", "SeriesNumber", "SeriesDescription",
    "FrameOfReferenceUID", "Modality", "Manufacturer", "ManufacturerModelName", "MagneticFieldStrength",
    "ProtocolName", "BodyPartExamined", "ScanningSequence", "SequenceVariant", "ScanOptions",
    "MRAcquisitionType", "RepetitionTime", "EchoTime", "EchoNumbers", "EchoTrainLength", "FlipAngle",
    "SliceThickness", "SpacingBetweenSlices", "PixelSpacing", "ImageOrientationPatient",
)


@dataclass
class _Slice:
    path: Path
    series_uid: str
    echo_key: tuple[float, float]
    echo_number: int | None
    echo_time: float | None
    position: np.ndarray  # (3,) LPS mm
    orientation: np.ndarray  # (6,) row cosines, column cosines
    spacing: tuple[float, float]  # (row spacing, column spacing)
    size: tuple[int, int]  # (rows, cols)
    instance: int | None
    description: str
    series_number: str = ""


def _num(value: Any) -> float | None:
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


def _scan(dicom_dir: Path) -> list[_Slice]:
    """Parse headers of every image file directly inside ``dicom_dir``."""
    if not dicom_dir.exists():
        raise InputError(f"{dicom_dir}: no such file or folder")
    if not dicom_dir.is_dir():
        raise InputError(f"{dicom_dir}: not a DICOM series folder")
    slices: list[_Slice] = []
    for f in sorted(p for p in dicom_dir.iterdir() if p.is_file() and not p.name.startswith(".")):
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        except (InvalidDicomError, OSError, EOFError, ValueError, TypeError, AttributeError, KeyError):
            continue  # not DICOM (README, thumbnails, ...): ignored, like any viewer would
        if "PixelData" not in ds and "Rows" not in ds:
            continue  # DICOMDIR, structured report, presentation state: no image
        if int(ds.get("NumberOfFrames", 1) or 1) > 1:
            raise InputError(f"{f}: enhanced multi-frame DICOM is not supported; convert the series to NIfTI "
                             "(e.g. with dcm2niix) and pass the .nii.gz")
        missing = [k for k in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows", "Columns")
                   if ds.get(k) in (None, "")]
        if missing:
            raise InputError(f"{f}: DICOM image lacks {', '.join(missing)}; cannot place it in 3D")
        en, et = ds.get("EchoNumbers"), _num(ds.get("EchoTime"))
        en = int(en[0] if isinstance(en, pydicom.multival.MultiValue) else en) if en not in (None, "") else None
        slices.append(_Slice(
            path=f,
            series_uid=str(ds.get("SeriesInstanceUID", "")),
            echo_key=(float(en) if en is not None else -1.0, et if et is not None else -1.0),
            echo_number=en,
            echo_time=et,
            position=np.array([float(v) for v in ds.ImagePositionPatient], dtype=np.float64),
            orientation=np.array([float(v) for v in ds.ImageOrientationPatient], dtype=np.float64),
            spacing=(float(ds.PixelSpacing[0]), float(ds.PixelSpacing[1])),
            size=(int(ds.Rows), int(ds.Columns)),
            instance=int(ds.InstanceNumber) if ds.get("InstanceNumber") not in (None, "") else None,
            description=str(ds.get("SeriesDescription", "")),
            series_number=str(ds.get("SeriesNumber", "") or ""),
        ))
    if not slices:
        raise InputError(f"{dicom_dir}: no DICOM images found in this folder")
    uids = sorted({s.series_uid for s in slices})
    if len(uids) > 1:
        by_uid: dict[str, list[_Slice]] = defaultdict(list)
        for s in slices:  # files in name order: each series is shown by its first file
            by_uid[s.series_uid].append(s)
        parts = []
        for group in sorted(by_uid.values(), key=lambda g: g[0].path.name)[:4]:
            label = " ".join(x for x in (f"series {group[0].series_number}" if group[0].series_number else "",
                                         f"'{group[0].description[:40]}'" if group[0].description else "") if x)
            parts.append(f"{label + ': ' if label else ''}{len(group)} file(s) from {group[0].path.name}")
        more = "; ..." if len(by_uid) > 4 else ""
        raise InputError(f"{dicom_dir}: mixed series: {len(uids)} SeriesInstanceUIDs in one folder "
                         f"({'; '.join(parts)}{more}); put each series in its own folder")
    return slices


def _group_echoes(slices: list[_Slice]) -> list[list[_Slice]]:
    """Group slices by echo; ordered by (EchoNumbers, EchoTime). A single group if echoes agree."""
    use_numbers = all(s.echo_number is not None for s in slices)
    groups: dict[tuple, list[_Slice]] = defaultdict(list)
    for s in slices:
        key = (s.echo_number, -1.0) if use_numbers else (-1, s.echo_time if s.echo_time is not None else -1.0)
        groups[key].append(s)
    return [groups[k] for k in sorted(groups)]


def _pick_echo(dicom_dir: Path, groups: list[list[_Slice]], echo: int | None) -> tuple[int, list[_Slice]]:
    n = len(groups)
    if echo is None:
        if n > 1:
            times = ", ".join(f"{i + 1}: TE {g[0].echo_time:g} ms" if g[0].echo_time is not None else f"{i + 1}"
                              for i, g in enumerate(groups))
            raise InputError(f"{dicom_dir}: multi-echo series with {n} echoes ({times}); choose one with --echo N; evaluate: --source-echo/--target-echo N; train: --set data.echo=N")
        return 1, groups[0]
    if not 1 <= echo <= n:
        raise InputError(f"{dicom_dir}: echo {echo} is out of range; the series has {n} echo(es) (1..{n})")
    return echo, groups[echo - 1]


def _sort_and_check(dicom_dir: Path, group: list[_Slice]) -> tuple[list[_Slice], np.ndarray]:
    """Sort one echo's slices along the normal; check geometry; return (slices, LPS affine)."""
    ref = group[0]
    for s in group:
        if not np.allclose(s.orientation, ref.orientation, atol=1e-4):
            raise InputError(f"{dicom_dir}: slices with different ImageOrientationPatient in one series "
                             f"({ref.path.name} vs {s.path.name})")
        if s.size != ref.size or not np.allclose(s.spacing, ref.spacing, atol=1e-4):
            raise InputError(f"{dicom_dir}: slices of different size or pixel spacing in one series "
                             f"({ref.path.name} vs {s.path.name})")
    if len(group) < 2:
        raise InputError(f"{dicom_dir}: only one slice: image is 2D; a 3D series is needed")
    row_cos, col_cos = ref.orientation[:3], ref.orientation[3:]
    normal = np.cross(row_cos, col_cos)
    order = sorted(group, key=lambda s: float(s.position @ normal))
    proj = np.array([float(s.position @ normal) for s in order])
    steps = np.diff(proj)
    if np.any(steps < 1e-3):
        i = int(np.argmin(steps))
        raise InputError(f"{dicom_dir}: two slices at the same position ({order[i].path.name}, {order[i + 1].path.name}); "
                         "repeated acquisitions or mixed echoes without EchoNumbers/EchoTime")
    step = float(np.median(steps))
    if np.any(steps > 1.5 * step):
        i = int(np.argmax(steps))
        raise InputError(f"{dicom_dir}: missing slice(s): a {steps[i]:.3g} mm gap between {order[i].path.name} and "
                         f"{order[i + 1].path.name} where the slice spacing is {step:.3g} mm")
    if np.any(np.abs(steps - step) > 0.05 * step + 1e-3):
        raise InputError(f"{dicom_dir}: irregular slice spacing ({steps.min():.3g}..{steps.max():.3g} mm)")
    instances = [s.instance for s in order]
    if None not in instances and instances[0] > instances[-1]:
        order = order[::-1]  # follow the scanner's InstanceNumber order (see module docstring)
    first, last = order[0].position, order[-1].position
    aff = np.eye(4)
    aff[:3, 0] = (last - first) / (len(order) - 1)
    aff[:3, 1] = col_cos * ref.spacing[0]
    aff[:3, 2] = row_cos * ref.spacing[1]
    aff[:3, 3] = first
    return order, aff


def _decode_why(exc: Exception) -> str:
    """A decoder error as a short, complete clause (pydicom's messages run long)."""
    text = str(exc).splitlines()[0].strip() if str(exc).strip() else ""
    short = re.search(r"pixel data is less than expected \((\d+) vs (\d+) bytes\)", text)
    if short:
        return f"only {short.group(1)} of {short.group(2)} bytes of pixel data; the file is truncated or corrupt"
    text = text.split(" - ")[0].rstrip(" .,;:")  # pydicom appends guesses after " - "
    if len(text) > 120:
        text = text[:117].rsplit(" ", 1)[0] + " ..."
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def _plain(value: Any) -> Any:
    """pydicom value -> JSON-friendly Python value."""
    if isinstance(value, pydicom.multival.MultiValue) or isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def list_echoes(dicom_dir: str | Path) -> list[dict]:
    """Echoes of a DICOM series folder, in selection order.

    Returns ``[{"echo": 1, "echo_number": 1, "echo_time": 6.312, "n_slices": 24}, ...]``
    (``echo`` is what ``read_volume(..., echo=)`` / ``--echo`` takes).
    """
    groups = _group_echoes(_scan(Path(dicom_dir)))
    return [{"echo": i + 1, "echo_number": g[0].echo_number, "echo_time": g[0].echo_time, "n_slices": len(g)}
            for i, g in enumerate(groups)]


def read_dicom_series(dicom_dir: str | Path, echo: int | None = None) -> Volume:
    """Read one echo of the series in ``dicom_dir`` as a float32 (D, H, W) Volume (see module doc)."""
    dicom_dir = Path(dicom_dir)
    groups = _group_echoes(_scan(dicom_dir))
    echo_idx, group = _pick_echo(dicom_dir, groups, echo)
    return _read_group(dicom_dir, group, echo_idx, len(groups))


def read_dicom_echoes(dicom_dir: str | Path) -> list[Volume]:
    """Every echo of the series in ``dicom_dir`` (headers parsed once), in ``list_echoes`` order."""
    dicom_dir = Path(dicom_dir)
    groups = _group_echoes(_scan(dicom_dir))
    return [_read_group(dicom_dir, g, i + 1, len(groups)) for i, g in enumerate(groups)]


def _read_group(dicom_dir: Path, group: list[_Slice], echo_idx: int, n_echoes: int) -> Volume:
    order, aff_lps = _sort_and_check(dicom_dir, group)
    rows, cols = order[0].size
    array = np.empty((len(order), rows, cols), dtype=np.float32)
    source_dtype = "float32"
    first_ds = None
    for k, s in enumerate(order):
        try:
            ds = pydicom.dcmread(s.path)
            pixels = ds.pixel_array
        except Exception as exc:  # noqa: BLE001 - decoder errors come in many classes
            raise InputError(f"{s.path}: cannot decode the pixel data ({_decode_why(exc)})") from exc
        if pixels.shape != (rows, cols):
            raise InputError(f"{s.path}: pixel data shape {pixels.shape} is not Rows x Columns ({rows}, {cols})")
        array[k] = apply_rescale(pixels, ds)
        if k == 0:
            first_ds = ds
            source_dtype = str(pixels.dtype.newbyteorder("=")) if float(ds.get("RescaleSlope", 1) or 1) == 1 \
                and float(ds.get("RescaleIntercept", 0) or 0) == 0 else "float32"
    header = {k: _plain(first_ds.get(k)) for k in META_KEYWORDS
              if first_ds.get(k) is not None and str(first_ds.get(k)) != ""}
    meta = {
        "format": "dicom",
        "path": str(dicom_dir),
        "source_dtype": source_dtype,
        "echo": echo_idx,
        "n_echoes": n_echoes,
        "echo_time": order[0].echo_time,
        "description": str(header.get("SeriesDescription", "")),
        "dicom": header,
    }
    return Volume(array, LPS_TO_RAS @ aff_lps, meta)
