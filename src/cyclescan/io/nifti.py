"""NIfTI (.nii / .nii.gz) read and write with nibabel.

The NIfTI voxel axes (i, j, k) are the Volume's (D, H, W) as stored: no reorientation happens here
(see orientation.py), so ``write_nifti(read_nifti(p))`` reproduces the array and affine exactly.

Header geometry beyond nibabel's affine (``meta["nifti"]``, written back when the volume keeps the
affine it was read with): the sform/qform codes, the input's own qform (it may differ from the
sform, and ITK-based viewers read it), a trailing singleton 4th dimension. Spatial units other
than mm (``xyzt_units`` micron or meter, which nibabel ignores) are converted to mm on reading, so
every spacing in CycleScan is in mm and the written file says mm.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

from cyclescan.errors import InputError
from cyclescan.io.atomic import atomic_path
from cyclescan.io.volume import Volume

NIFTI_SUFFIXES = (".nii", ".nii.gz")
UNIT_TO_MM = {"meter": 1000.0, "mm": 1.0, "micron": 0.001}  # xyzt_units; "unknown" is read as mm


def is_nifti_path(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def volume_stem(path: Path) -> str:
    """A volume's name without .nii/.nii.gz (any case; a DICOM folder keeps its name): the name
    outputs are written under and the key that pairs volumes across folders (evaluate, the
    trainer's paired-validation check)."""
    name = Path(path).name
    for suf in sorted(NIFTI_SUFFIXES, key=len, reverse=True):  # '.nii.gz' before '.nii'
        if name.lower().endswith(suf):
            return name[: -len(suf)]
    return name


def read_nifti(path: str | Path, echo: int | None = None) -> Volume:
    """Read a 3D NIfTI, or volume ``echo`` (1-based) of a 4D one, as float32 (D, H, W).

    Raises InputError (message names the file) for: not a NIfTI, truncated/corrupt data, 2D,
    4D without ``echo``, ``echo`` out of range, more than 4 dimensions, complex/RGB data.
    """
    path = Path(path)
    try:
        img = nib.load(str(path))
    except (nib.filebasedimages.ImageFileError, OSError, EOFError, ValueError, zlib.error) as exc:
        raise InputError(f"{path}: not a readable NIfTI image ({_why(exc)})") from exc
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise InputError(f"{path}: not a NIfTI image ({type(img).__name__})")
    shape = tuple(int(s) for s in img.shape)
    dtype = img.get_data_dtype()
    if dtype.fields is not None or np.issubdtype(dtype, np.complexfloating):
        raise InputError(f"{path}: voxel type {dtype} (RGB/complex) is not a scalar intensity image")
    # Drop trailing singleton dimensions beyond the third (e.g. (X, Y, Z, 1)).
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) < 3:
        raise InputError(f"{path}: image is {len(shape)}D (shape {tuple(img.shape)}); a 3D volume is needed")
    if 1 in shape[:3] or 0 in shape[:3]:
        n_axes = sum(n > 1 for n in shape[:3])
        what = ("it holds no voxels" if 0 in shape[:3] else "it is a single voxel" if n_axes == 0
                else f"it is a {n_axes}D image")
        raise InputError(f"{path}: image has a dimension of size {min(shape[:3])} (shape {tuple(img.shape)}): "
                         f"{what}; a 3D volume with at least 2 voxels per axis is needed")
    if len(shape) > 4:
        raise InputError(f"{path}: {len(shape)}D image (shape {tuple(img.shape)}); only 3D or 4D (echoes) are supported")
    n_vol = shape[3] if len(shape) == 4 else 1
    if len(shape) == 4 and echo is None:
        raise InputError(f"{path}: 4D image with {n_vol} volumes; choose one with --echo N (1..{n_vol}); evaluate: --source-echo/--target-echo N; train: --set data.echo=N")
    if echo is not None and not 1 <= echo <= n_vol:
        raise InputError(f"{path}: echo {echo} is out of range (--echo, --source-echo, --target-echo or data.echo); the image has {n_vol} volume(s) (1..{n_vol})")
    try:
        data = np.asanyarray(img.dataobj)
        data = data.reshape(data.shape[:3] + (n_vol,))[..., (echo or 1) - 1]
        array = np.asarray(data, dtype=np.float32)
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise InputError(f"{path}: truncated or corrupt image data ({_why(exc)})") from exc
    to_mm = UNIT_TO_MM.get(img.header.get_xyzt_units()[0], 1.0)
    affine = _scaled(img.affine, to_mm)
    meta = {
        "format": "nifti",
        "path": str(path),
        "source_dtype": str(np.dtype(dtype)),
        "echo": echo,
        "n_echoes": n_vol,
        "description": _descrip(img),
        "nifti": _geometry(img, affine, to_mm, echo is None and len(img.shape) > 3),
    }
    return Volume(array, affine, meta)


def _scaled(affine: np.ndarray, to_mm: float) -> np.ndarray:
    """``affine`` with its spatial rows in mm (rotation/zooms and origin times ``to_mm``)."""
    out = np.asarray(affine, dtype=np.float64).copy()
    out[:3] *= to_mm
    return out


def _geometry(img: nib.Nifti1Image, affine: np.ndarray, to_mm: float, singleton_4d: bool) -> dict:
    """What ``write_nifti`` restores: codes, the input's qform (mm), the affine they belong to."""
    qform, q_code = img.get_qform(coded=True)
    return {"sform_code": int(img.get_sform(coded=True)[1]), "qform_code": int(q_code),
            "qform": _scaled(qform, to_mm).tolist() if qform is not None and q_code > 0 else None,
            "affine": affine.tolist(), "singleton_4d": bool(singleton_4d)}


def has_shear(affine: np.ndarray, tol: float = 1e-4) -> bool:
    """True if the affine's voxel axes are not orthogonal (a NIfTI qform cannot represent it)."""
    m = np.asarray(affine, dtype=np.float64)[:3, :3]
    cols = m / np.maximum(np.linalg.norm(m, axis=0), 1e-12)
    return not np.allclose(cols.T @ cols, np.eye(3), atol=tol)


def _descrip(img: nib.Nifti1Image) -> str:
    try:
        return bytes(img.header["descrip"]).decode("ascii", "replace").strip("\x00 ")
    except Exception:  # noqa: BLE001 - cosmetic field only
        return ""


def _why(exc: BaseException) -> str:
    msg = str(exc).splitlines()[0] if str(exc) else ""
    return f"{exc.__class__.__name__}: {msg}" if msg else exc.__class__.__name__


def write_nifti(vol: Volume, path: str | Path, dtype: str = "float32") -> None:
    """Write ``vol`` as NIfTI with its affine, atomically.

    Geometry: if ``vol`` still has the affine it was read with (``meta["nifti"]``), the input's
    sform/qform codes, its qform and a trailing singleton 4th dimension are restored; otherwise
    (DICOM, phantom, resampled) sform = qform = the affine with code 'scanner' (qform code 0 for a
    sheared affine, which a qform cannot hold). Units: mm.

    Args:
        vol: the volume; its array (D, H, W) is stored with axis 0 = NIfTI i.
        path: destination ``.nii`` or ``.nii.gz``.
        dtype: "float32" (default), "input" (``vol.meta["source_dtype"]``, float32 if unknown), or
            any numpy dtype name. Integer outputs store integer-valued arrays exactly; other data
            are scaled by nibabel (scl_slope/scl_inter) to fit the integer range.
    """
    path = Path(path)
    if not is_nifti_path(path):
        raise InputError(f"{path}: output name must end in .nii or .nii.gz")
    if not path.parent.is_dir():
        raise InputError(f"{path}: output folder {path.parent} does not exist")
    target = np.dtype(vol.meta.get("source_dtype", "float32") if dtype == "input" else dtype)
    array = np.asarray(vol.array)
    if np.issubdtype(target, np.integer):
        info = np.iinfo(target)
        finite = np.isfinite(array).all()
        if finite and np.array_equal(array, np.round(array)) and array.min(initial=0) >= info.min \
                and array.max(initial=0) <= info.max:
            array = array.astype(target)  # exact: no scaling needed
        # else: nibabel picks scl_slope/scl_inter so the float data fit ``target``.
    else:
        array = array.astype(target)
    geo = vol.meta.get("nifti") or {}
    same_grid = geo.get("affine") is not None and np.allclose(np.asarray(geo["affine"]), vol.affine, atol=1e-6)
    if same_grid and geo.get("singleton_4d"):
        array = array[..., None]
    img = nib.Nifti1Image(array, vol.affine)
    img.set_data_dtype(target)
    _set_geometry(img, vol.affine, geo if same_grid else {})
    img.header.set_xyzt_units("mm", "sec")
    desc = str(vol.meta.get("description", ""))[:79]
    if desc:
        img.header["descrip"] = desc.encode("ascii", "replace")
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))


def _set_geometry(img: nib.Nifti1Image, affine: np.ndarray, geo: dict) -> None:
    """sform/qform of ``img``: the input's (``geo`` from ``_geometry``) or the default (see write_nifti)."""
    s_code, q_code = int(geo.get("sform_code", 1)), int(geo.get("qform_code", 1))
    qform = np.asarray(geo["qform"]) if geo.get("qform") is not None else affine
    if s_code == 0 and q_code == 0:
        # the input had no spatial code: nibabel read it as the pixdim-only base affine; keep both 0
        img.set_sform(affine, code=0)
        img.set_qform(affine, code=0)
        return
    img.set_sform(affine, code=s_code)
    if q_code > 0 and not has_shear(qform):
        img.set_qform(qform, code=q_code)
    else:  # nibabel would store a sheared affine's nearest rigid approximation: leave it out
        img.set_qform(None, code=0)
