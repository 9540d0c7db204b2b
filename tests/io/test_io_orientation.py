import itertools

import numpy as np
import pytest
from nibabel import orientations as nio

from cyclescan.errors import ConfigError
from cyclescan.io import Volume, canonicalize
from cyclescan.io.orientation import Reorientation, axcodes, parse_orientation

CODES = ["".join(p) for p in itertools.product("LR", "AP", "SI")]
ALL = sorted({"".join(c[i] for i in perm) for c in CODES for perm in itertools.permutations(range(3))})


def _volume(codes: str, shape=(4, 5, 6)) -> Volume:
    """A volume whose axes point along ``codes``, with an oblique tilt and anisotropic spacing."""
    ornt = nio.axcodes2ornt(tuple(codes))
    aff = np.zeros((4, 4))
    for i, (axis, sign) in enumerate(ornt):
        aff[int(axis), i] = sign * (1.0 + i)
    tilt = np.array([[1, 0.1, 0], [-0.1, 1, 0.05], [0, -0.05, 1]])
    aff[:3, :3] = tilt @ aff[:3, :3]
    aff[:3, 3] = [3.0, -2.0, 7.5]
    aff[3, 3] = 1
    arr = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    return Volume(arr, aff, {"path": "x"})


@pytest.mark.parametrize("src", ALL)
def test_canonicalize_is_exact_and_invertible(src):
    vol = _volume(src)
    canon, rec = canonicalize(vol, "RIP")
    assert axcodes(canon.affine) == "RIP"
    # Every voxel keeps its world position: compare world coordinates of the same value.
    for value in (0, 17, vol.array.size - 1):
        i_src = np.argwhere(vol.array == value)[0]
        i_can = np.argwhere(canon.array == value)[0]
        np.testing.assert_allclose(vol.affine @ [*i_src, 1], canon.affine @ [*i_can, 1], atol=1e-9)
    back = rec.invert(canon)
    np.testing.assert_array_equal(back.array, vol.array)
    np.testing.assert_array_equal(back.affine, vol.affine)
    assert Reorientation.from_dict(rec.to_dict()).invert(canon).array.tobytes() == vol.array.tobytes()


def test_identity_when_already_canonical():
    vol = _volume("RIP")
    canon, rec = canonicalize(vol, "RIP")
    assert rec.is_identity
    np.testing.assert_array_equal(canon.array, vol.array)


@pytest.mark.parametrize("bad", ["RRP", "XYZ", "RI", "RIPS"])
def test_bad_orientation_code(bad):
    with pytest.raises(ConfigError):
        parse_orientation(bad)
