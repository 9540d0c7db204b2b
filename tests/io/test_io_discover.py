import numpy as np
import pytest

from cyclescan.errors import InputError
from cyclescan.io import Volume, list_volumes, write_dicom_series, write_nifti


def test_layouts(tmp_path):
    vol = Volume(np.ones((3, 4, 5), np.float32), np.eye(4), {})
    (tmp_path / "sub" / "anat").mkdir(parents=True)
    write_nifti(vol, tmp_path / "a.nii.gz")
    write_nifti(vol, tmp_path / "sub" / "anat" / "b.nii")
    write_dicom_series(vol, tmp_path / "patient1" / "series3", None, "x")
    (tmp_path / "README.txt").write_text("notes")
    (tmp_path / ".hidden").mkdir()
    write_nifti(vol, tmp_path / ".hidden" / "c.nii.gz")
    found = list_volumes(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.nii.gz", "patient1/series3", "sub/anat/b.nii"]
    assert list_volumes(tmp_path / "a.nii.gz") == [tmp_path / "a.nii.gz"]
    assert list_volumes(tmp_path / "patient1" / "series3") == [tmp_path / "patient1" / "series3"]


@pytest.mark.parametrize("name, fragment", [("missing", "no such file"), ("empty_folder", "no NIfTI files"),
                                            ("not_an_image_txt", "not a NIfTI")])
def test_list_volumes_bad(corpus, name, fragment):
    with pytest.raises(InputError, match=fragment) as err:
        list_volumes(corpus[name])
    assert str(corpus[name]) in str(err.value)
