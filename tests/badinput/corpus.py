"""Builders of bad (and edge-case) inputs, reusable by any test: ``make_corpus(dir) -> {name: path}``.

Every entry is tiny (<= 16x32x32). Names:
  missing, empty_folder, not_an_image (text named .nii.gz), not_an_image_txt, truncated_nifti,
  image_2d, image_2d_singleton, image_4d, nan, inf, constant, small (4x8x8, smaller than patches),
  dicom_missing_slice, dicom_mixed_uids, dicom_multi_echo (valid, 2 echoes), dicom_single_file,
  mixed_orientations (folder: the same volume stored RAS and as a permuted/flipped copy),
  good_nifti (valid 12x24x24).
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom

from cyclescan.io.dicom_write import write_dicom_series
from cyclescan.io.volume import Volume


def phantom_array(shape: tuple[int, int, int] = (12, 24, 24), seed: int = 0) -> np.ndarray:
    """A float32 blob (ellipsoid 'tissue' ~ 300-700 on 'air' ~ 0-20) with noise."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    body = (zz / 0.8) ** 2 + (yy / 0.7) ** 2 + (xx / 0.6) ** 2 < 1
    arr = np.where(body, 500 + 200 * np.sin(3 * yy) * np.cos(2 * xx), 10).astype(np.float32)
    return arr + rng.normal(0, 5, shape).astype(np.float32)


def _nifti(path: Path, arr: np.ndarray, affine: np.ndarray | None = None) -> Path:
    nib.save(nib.Nifti1Image(arr, np.eye(4) if affine is None else affine), str(path))
    return path


def _series(dir_: Path, n: int = 6, seed: int = 0) -> Path:
    aff = np.diag([-2.0, -1.0, 1.0, 1.0])
    aff[:3, 3] = [10, 20, -5]
    arr = np.round(phantom_array((n, 16, 16), seed))
    return write_dicom_series(Volume(arr, aff, {}), dir_, None, "corpus")


def make_corpus(root: str | Path) -> dict[str, Path]:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    c: dict[str, Path] = {"missing": root / "does_not_exist.nii.gz"}
    (root / "empty_folder").mkdir(exist_ok=True)
    c["empty_folder"] = root / "empty_folder"
    c["not_an_image"] = root / "notes.nii.gz"
    c["not_an_image"].write_text("this is not an image\n")
    c["not_an_image_txt"] = root / "notes.txt"
    c["not_an_image_txt"].write_text("this is not an image\n")
    good = _nifti(root / "good.nii.gz", phantom_array())
    c["good_nifti"] = good
    raw = gzip.decompress(good.read_bytes())
    c["truncated_nifti"] = root / "truncated.nii.gz"
    c["truncated_nifti"].write_bytes(gzip.compress(raw)[: len(gzip.compress(raw)) // 2])
    c["image_2d"] = _nifti(root / "image_2d.nii.gz", phantom_array((1, 24, 24))[0])
    c["image_2d_singleton"] = _nifti(root / "image_2d_singleton.nii.gz", phantom_array((1, 24, 24)))
    c["image_4d"] = _nifti(root / "image_4d.nii.gz", np.stack([phantom_array(seed=s) for s in range(3)], axis=-1))
    nan = phantom_array()
    nan[3, 4, 5] = np.nan
    c["nan"] = _nifti(root / "nan.nii.gz", nan)
    inf = phantom_array()
    inf[1, 2, 3] = np.inf
    c["inf"] = _nifti(root / "inf.nii.gz", inf)
    c["constant"] = _nifti(root / "constant.nii.gz", np.full((12, 24, 24), 7.0, dtype=np.float32))
    c["small"] = _nifti(root / "small.nii.gz", phantom_array((4, 8, 8)))

    missing = _series(root / "dicom_missing_slice", n=6)
    (missing / "IM0003.dcm").unlink()
    c["dicom_missing_slice"] = missing

    mixed = _series(root / "dicom_mixed_uids", n=4, seed=1)
    other = _series(root / "_other_series", n=4, seed=2)
    for f in other.iterdir():
        shutil.move(str(f), mixed / f"B{f.name}")
    other.rmdir()
    c["dicom_mixed_uids"] = mixed

    echo = _series(root / "dicom_multi_echo", n=5, seed=3)
    second = _series(root / "_echo2", n=5, seed=4)
    uid = pydicom.dcmread(next(echo.iterdir())).SeriesInstanceUID
    for d, (number, te) in ((echo, (1, 10.0)), (second, (2, 20.0))):
        for f in sorted(d.iterdir()):
            ds = pydicom.dcmread(f)
            ds.SeriesInstanceUID, ds.EchoNumbers, ds.EchoTime = uid, number, te
            ds.InstanceNumber = int(ds.InstanceNumber) * 2 - (2 - number)
            ds.save_as(echo / f"E{number}_{f.name}")
            f.unlink()
    second.rmdir()
    c["dicom_multi_echo"] = echo
    c["dicom_single_file"] = next(iter(sorted(echo.iterdir())))

    mo = root / "mixed_orientations"
    mo.mkdir(exist_ok=True)
    base = phantom_array((12, 20, 24), seed=5)
    aff = np.diag([1.0, 1.0, 2.0, 1.0])  # RAS, 1 x 1 x 2 mm
    _nifti(mo / "ras.nii.gz", base, aff)
    # Same voxels stored as (S, P, R)-> transposed and flipped, with the matching affine.
    flipped = np.flip(np.transpose(base, (2, 1, 0)), axis=1)
    aff2 = np.zeros((4, 4))
    aff2[:3, 0] = aff[:3, 2]
    aff2[:3, 1] = -aff[:3, 1]
    aff2[:3, 2] = aff[:3, 0]
    aff2[:3, 3] = aff[:3, 1] * (base.shape[1] - 1)
    aff2[3, 3] = 1
    _nifti(mo / "spr.nii.gz", np.ascontiguousarray(flipped), aff2)
    c["mixed_orientations"] = mo
    return c
