"""Find volumes in a path and read any of them: NIfTI files and DICOM series folders.

Accepted (docs/data.md): a ``.nii``/``.nii.gz`` file; a DICOM series folder (files directly inside
it); or a folder searched recursively for both (hidden entries skipped). Other files are ignored
when searching a folder, but an error when given directly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.misc import is_dicom

from cyclescan.errors import InputError
from cyclescan.io.dicom import read_dicom_series
from cyclescan.io.nifti import is_nifti_path, read_nifti
from cyclescan.io.volume import Volume

DICOM_SUFFIXES = (".dcm", ".ima", ".dicom")


def _looks_dicom(f: Path) -> bool:
    if f.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        return is_dicom(f)  # 'DICM' magic at byte 128
    except OSError:
        return False


def _visible(p: Path, root: Path) -> bool:
    return not any(part.startswith(".") for part in p.relative_to(root).parts)


def is_dicom_dir(path: Path) -> bool:
    """True if ``path`` is a folder holding at least one DICOM file directly."""
    return path.is_dir() and any(f.is_file() and not f.name.startswith(".") and _looks_dicom(f)
                                 for f in path.iterdir())


def list_volumes(path: str | Path) -> list[Path]:
    """Volumes under ``path``, sorted: NIfTI files and DICOM series folders.

    ``path`` may be one NIfTI file, one DICOM series folder, or a folder searched recursively.
    Raises InputError if ``path`` is missing, is a file of another kind, or holds no volume.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_file():
        if is_nifti_path(path):
            return [path]
        if _looks_dicom(path):
            raise InputError(f"{path}: a single DICOM file; pass the folder holding the whole series")
        raise InputError(f"{path}: not a NIfTI (.nii/.nii.gz) file or a DICOM series folder")
    found: list[Path] = []
    dirs = [path] + sorted(d for d in path.rglob("*") if d.is_dir() and _visible(d, path))
    for d in dirs:
        if is_dicom_dir(d):
            found.append(d)
    for f in sorted(path.rglob("*")):
        if f.is_file() and _visible(f, path) and is_nifti_path(f):
            found.append(f)
    if not found:
        raise InputError(f"{path}: no NIfTI files or DICOM series found in this folder")
    return sorted(found)


def read_volume(path: str | Path, echo: int | None = None) -> Volume:
    """Read a NIfTI file or a DICOM series folder as a float32 (D, H, W) Volume in its stored layout.

    ``echo`` (1-based) selects an echo of a multi-echo DICOM series or a volume of a 4D NIfTI; it
    is required when there are several. Raises InputError (naming the file) for a missing path,
    a file that is not an image, corrupt/truncated data, 2D or 5D+ images, and NaN/Inf voxels.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        if not is_dicom_dir(path):
            entries = [p for p in path.iterdir() if not p.name.startswith(".")]
            if not entries:
                raise InputError(f"{path}: empty folder")
            raise InputError(f"{path}: not a DICOM series folder (no DICOM files directly inside); "
                             "pass one NIfTI file or one series folder")
        vol = read_dicom_series(path, echo)
    elif is_nifti_path(path):
        try:
            open(path, "rb").close()  # nibabel reports a denied read as "Could not read file"
        except PermissionError as exc:
            raise InputError(f"{path}: permission denied (the file is not readable by this user)") from exc
        vol = read_nifti(path, echo)
    elif _looks_dicom(path):
        raise InputError(f"{path}: a single DICOM file; pass the folder holding the whole series")
    else:
        raise InputError(f"{path}: not a NIfTI (.nii/.nii.gz) file or a DICOM series folder")
    bad = int(np.count_nonzero(~np.isfinite(vol.array)))
    if bad:
        raise InputError(f"{path}: {bad} NaN/Inf voxel(s); fix or mask them before use")
    check_affine(vol.affine, path)
    return vol


def check_affine(affine: np.ndarray, path: str | Path) -> None:
    """InputError unless the 4x4 voxel -> mm ``affine`` is finite with non-zero voxel sizes and invertible.

    A zero voxel size or two voxel axes pointing the same way (a singular matrix) cannot place the
    voxels in space; orientation, resampling and the written output would all be wrong.
    """
    a = np.asarray(affine, dtype=np.float64)
    if a.shape != (4, 4) or not np.all(np.isfinite(a)):
        raise InputError(f"{path}: invalid header: the voxel-to-world affine is not a finite 4x4 matrix")
    sizes = np.linalg.norm(a[:3, :3], axis=0)
    if np.any(sizes <= 1e-6 * max(float(sizes.max()), 1e-12)) or float(sizes.min()) <= 0:
        raise InputError(f"{path}: invalid header: voxel size {tuple(round(float(v), 6) for v in sizes)} mm "
                         "(zero or missing); fix the header (pixdim / sform) before use")
    # |det| relative to the product of the column norms: 0 for parallel axes, 1 for orthogonal ones.
    skew = abs(float(np.linalg.det(a[:3, :3]))) / float(np.prod(sizes))
    if skew < 1e-3:
        raise InputError(f"{path}: invalid header: singular voxel-to-world affine (voxel axes are parallel)")
