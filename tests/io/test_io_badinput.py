"""Each bad input of issue 4 ends in one InputError line that names the file (no partial output)."""

import numpy as np
import pytest

from cyclescan.config import Config
from cyclescan.data.datasets import prepare_volume
from cyclescan.errors import InputError
from cyclescan.io import list_volumes, read_volume

CASES = [
    ("missing", "no such file"),
    ("empty_folder", "empty folder"),
    ("not_an_image", "not a readable NIfTI"),
    ("not_an_image_txt", "not a NIfTI"),
    ("truncated_nifti", "truncated or corrupt"),
    ("image_2d", "2D"),
    ("image_2d_singleton", "2D"),
    ("image_4d", "choose one with --echo"),
    ("nan", "NaN/Inf"),
    ("inf", "NaN/Inf"),
    ("dicom_missing_slice", "missing slice"),
    ("dicom_mixed_uids", "mixed series"),
    ("dicom_multi_echo", "choose one with --echo"),
    ("dicom_single_file", "single DICOM file"),
]


@pytest.mark.parametrize("name, fragment", CASES)
def test_read_volume_bad_input(corpus, name, fragment):
    with pytest.raises(InputError, match=fragment) as err:
        read_volume(corpus[name])
    msg = str(err.value)
    assert str(corpus[name]) in msg and "\n" not in msg


def _cfg(patch=(8, 16, 16)):
    cfg = Config().data
    cfg.patch_size = list(patch)
    return cfg


def test_constant_image_rejected_with_name(corpus):
    with pytest.raises(InputError, match="constant") as err:
        prepare_volume(corpus["constant"], _cfg())
    assert str(corpus["constant"]) in str(err.value)


def test_small_volume_is_padded_and_inverts(corpus):
    pv = prepare_volume(corpus["small"], _cfg())
    assert pv.array.shape == (8, 16, 16) and pv.source.shape == (4, 8, 8)
    assert pv.array.min() >= -1 and not pv.mask[0].any()  # padding is background
    back = pv.to_source(pv.array, pv.stats)
    np.testing.assert_array_equal(back.affine, pv.source.affine)
    inside = (pv.source.array > pv.stats.lo) & (pv.source.array < pv.stats.hi)
    np.testing.assert_allclose(back.array[inside], pv.source.array[inside], rtol=1e-5, atol=1e-3)


def test_mixed_orientations_are_reoriented(corpus):
    files = list_volumes(corpus["mixed_orientations"])
    assert len(files) == 2
    a, b = (prepare_volume(f, _cfg()) for f in files)
    assert read_volume(files[0]).shape != read_volume(files[1]).shape  # stored differently ...
    np.testing.assert_array_equal(a.array, b.array)  # ... identical once canonical
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-9)
