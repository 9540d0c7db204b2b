"""One rule names a volume: outputs, evaluate's pairing and the trainer's paired-val check agree."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import pytest

from cyclescan.io.nifti import volume_stem


@pytest.mark.parametrize("name,stem", [
    ("knee01.nii.gz", "knee01"), ("knee01.nii", "knee01"), ("KNEE.NII.GZ", "KNEE"), ("a.b.Nii", "a.b"),
    ("series_S8", "series_S8"), ("scan.nii.gz.bak", "scan.nii.gz.bak"),
])
def test_stem(name, stem):
    assert volume_stem(Path("/x") / name) == stem


def test_evaluate_and_translate_use_the_same_rule():
    from cyclescan.metrics.evaluate import volume_key

    for name in ("s1.nii", "s1.NII.GZ", "dicom_folder"):
        assert volume_key(Path(name)) == volume_stem(Path(name))


def test_trainer_sees_a_val_set_paired_across_nifti_suffixes(tmp_path):
    """a/val/subj.nii and b/val/subj.NII.GZ are one subject: the trainer's paired-val check (which
    turns on the SSIM selection) must say paired, as evaluate pairs them."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
    from tiny_run import make_dataset, tiny_cfg  # noqa: E402

    from cyclescan.train.data_setup import build_train_data
    from cyclescan.train.distributed import DistContext

    dirs = make_dataset(tmp_path, n_train=1, n_val=1)
    for dom, new_suffix in (("a", ".nii"), ("b", ".NII.GZ")):
        val = dirs[f"{dom}_val"]
        for f in list(val.iterdir()):
            stem = volume_stem(f)
            if new_suffix == ".nii":
                nib.save(nib.load(str(f)), str(val / f"{stem}.nii"))
                f.unlink()
            else:
                shutil.move(str(f), str(val / f"{stem}{new_suffix}"))
    data = build_train_data(tiny_cfg(), dirs["a_train"], dirs["b_train"], dirs["a_val"], dirs["b_val"],
                            DistContext(), log=lambda _m: None)
    assert [v.name for v in data.val_a] == [v.name for v in data.val_b] == ["subj_val00"]
    assert data.paired
