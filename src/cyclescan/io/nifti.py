"""NIfTI (.nii / .nii.gz) read and write with nibabel.

The NIfTI voxel axes (i, j, k) are the Volume's (D, H, W) as stored: no reorientation happens here
(see orientation.py), so ``write_nifti(read_nifti(p))`` reproduces the array and affine exactly.
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


def is_nifti_path(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


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
    if len(shape) < 3 or 1 in shape[:3] or 0 in shape[:3]:
        raise InputError(f"{path}: image is 2D (shape {tuple(img.shape)}); a 3D volume is needed")
    if len(shape) > 4:
        raise InputError(f"{path}: {len(shape)}D image (shape {tuple(img.shape)}); only 3D or 4D (echoes) are supported")
    n_vol = shape[3] if len(shape) == 4 else 1
    if len(shape) == 4 and echo is None:
        raise InputError(f"{path}: 4D image with {n_vol} volumes; choose one with --echo N (1..{n_vol}); evaluate: --source-echo/--target-echo N; train: --set data.echo=N")
    if echo is not None and not 1 <= echo <= n_vol:
        raise InputError(f"{path}: --echo {echo} is out of range; the image has {n_vol} volume(s) (1..{n_vol})")
    try:
        data = np.asanyarray(img.dataobj)
        data = data.reshape(data.shape[:3] + (n_vol,))[..., (echo or 1) - 1]
        array = np.asarray(data, dtype=np.float32)
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise InputError(f"{path}: truncated or corrupt image data ({_why(exc)})") from exc
    meta = {
        "format": "nifti",
        "path": str(path),
        "source_dtype": str(np.dtype(dtype)),
        "echo": echo,
        "n_echoes": n_vol,
        "description": _descrip(img),
    }
    return Volume(array, img.affine.astype(np.float64), meta)


def _descrip(img: nib.Nifti1Image) -> str:
    try:
        return bytes(img.header["descrip"]).decode("ascii", "replace").strip("\x00 ")
    except Exception:  # noqa: BLE001 - cosmetic field only
        return ""


def _why(exc: BaseException) -> str:
    msg = str(exc).splitlines()[0] if str(exc) else ""
    return f"{exc.__class__.__name__}: {msg}" if msg else exc.__class__.__name__


def write_nifti(vol: Volume, path: str | Path, dtype: str = "float32") -> None:
    """Write ``vol`` as NIfTI with its affine (sform and qform, code 'scanner'), atomically.

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
    img = nib.Nifti1Image(array, vol.affine)
    img.set_data_dtype(target)
    img.set_sform(vol.affine, code=1)
    try:
        img.set_qform(vol.affine, code=1)
    except Exception:  # noqa: BLE001 - sheared affines have no qform; the sform keeps them
        img.set_qform(None, code=0)
    img.header.set_xyzt_units("mm", "sec")
    desc = str(vol.meta.get("description", ""))[:79]
    if desc:
        img.header["descrip"] = desc.encode("ascii", "replace")
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))
