"""Property-based fuzzing of read -> normalize -> patch -> inverse -> write (issue 8).

Random shapes (2..20 per axis), voxel sizes (0.2..5 mm), orientations (axis permutations, flips
and oblique rotations), origins and voxel dtypes. Properties: geometry is always preserved (the
written volume has the input's shape and affine), values inside the percentile window survive
the round trip, patches have the patch size, and the only failure is a clear InputError
(constant images).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cyclescan.config import DataConfig
from cyclescan.data.patches import crop
from cyclescan.data.prepare import prepare_volume
from cyclescan.errors import InputError
from cyclescan.io import read_volume, write_nifti

PATCH = [8, 16, 16]
DTYPES = ("uint8", "int16", "uint16", "float32", "float64")


def _rotation(axis: int, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    i, j = [k for k in range(3) if k != axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


@st.composite
def volumes(draw):
    shape = tuple(draw(st.integers(2, 20)) for _ in range(3))
    spacing = [draw(st.floats(0.2, 5.0)) for _ in range(3)]
    perm = draw(st.permutations([0, 1, 2]))
    flips = [draw(st.sampled_from([-1.0, 1.0])) for _ in range(3)]
    oblique = draw(st.floats(-0.6, 0.6)) if draw(st.booleans()) else 0.0
    axis = draw(st.integers(0, 2))
    origin = [draw(st.floats(-200, 200)) for _ in range(3)]
    dtype = draw(st.sampled_from(DTYPES))
    kind = draw(st.sampled_from(["blob", "noise", "constant", "two_values"]))
    seed = draw(st.integers(0, 2**16))
    aff = np.eye(4)
    aff[:3, :3] = _rotation(axis, oblique) @ np.eye(3)[:, list(perm)] @ np.diag(np.array(flips) * spacing)
    aff[:3, 3] = origin
    return shape, aff, dtype, kind, seed


def _array(shape, dtype, kind, seed) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "constant":
        a = np.full(shape, 7.0)
    elif kind == "two_values":
        a = np.where(rng.random(shape) > 0.5, 10.0, 200.0)
    elif kind == "noise":
        a = rng.uniform(0, 250, shape)
    else:
        zz, yy, xx = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
        a = np.where(zz**2 + yy**2 + xx**2 < 0.8, 180.0, 15.0) + rng.normal(0, 5, shape)
    info = np.iinfo(dtype) if dtype.startswith(("int", "uint")) else None
    if info is not None:
        a = np.clip(np.rint(a), info.min, info.max)
    return a.astype(dtype)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(volumes())
def test_roundtrip_preserves_geometry(spec):
    shape, aff, dtype, kind, seed = spec
    arr = _array(shape, dtype, kind, seed)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.nii.gz"
        img = nib.Nifti1Image(arr, aff)
        img.header.set_data_dtype(arr.dtype)
        nib.save(img, str(src))
        vol = read_volume(src)
        assert vol.shape == shape and vol.array.dtype == np.float32
        np.testing.assert_allclose(vol.affine, aff, atol=1e-4)
        cfg = DataConfig(patch_size=list(PATCH), num_workers=0)
        try:
            prep = prepare_volume(src, cfg)
        except InputError as exc:
            assert kind == "constant" and str(src) in str(exc) and "\n" not in str(exc)
            return
        assert kind != "constant"
        assert prep.array.min() >= -1 and prep.array.max() <= 1
        assert all(n >= p for n, p in zip(prep.array.shape, PATCH))
        rng = np.random.default_rng(seed)
        start = tuple(int(rng.integers(0, n - p + 1)) for n, p in zip(prep.array.shape, PATCH))
        assert crop(prep.array, start, PATCH).shape == tuple(PATCH)
        back = prep.to_source(prep.array, prep.stats)
        assert back.shape == shape
        np.testing.assert_array_equal(back.affine, vol.affine)
        inside = (vol.array > prep.stats.lo) & (vol.array < prep.stats.hi)
        tol = 1e-4 * max(abs(prep.stats.hi), abs(prep.stats.lo), 1.0)
        np.testing.assert_allclose(back.array[inside], vol.array[inside], atol=tol)
        out = Path(tmp) / "out.nii.gz"
        write_nifti(back, out)
        again = read_volume(out)
        assert again.shape == shape
        np.testing.assert_allclose(again.affine, vol.affine, atol=1e-4)
        np.testing.assert_allclose(again.array, back.array, rtol=1e-6, atol=1e-6)
        assert sorted(p.name for p in Path(tmp).iterdir()) == ["in.nii.gz", "out.nii.gz"]  # no temporaries


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtypes_read_as_float32(tmp_path, dtype):
    arr = _array((4, 5, 6), dtype, "blob", 0)
    nib.save(nib.Nifti1Image(arr, np.eye(4)), str(tmp_path / "v.nii.gz"))
    vol = read_volume(tmp_path / "v.nii.gz")
    assert vol.array.dtype == np.float32
    np.testing.assert_array_equal(vol.array, arr.astype(np.float32))
