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


def test_evaluate_pairs_by_the_same_rule(tmp_path):
    """evaluate's pairing uses volume_stem: s1.nii and s1.NII.GZ are one subject."""
    import nibabel as nib
    import numpy as np

    from cyclescan.metrics.evaluate import pairing

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    img = nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4))
    nib.save(img, str(a / "s1.nii"))
    nib.save(img, str(b / "s1.nii.gz"))
    (b / "s1.nii.gz").rename(b / "s1.NII.GZ")
    nib.save(img, str(b / "s2.nii.gz"))
    pairs, only_a, only_b = pairing(a, b)
    assert [(k, p.name, q.name) for k, p, q in pairs] == [("s1", "s1.nii", "s1.NII.GZ")]
    assert (only_a, only_b) == ([], ["s2"])


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
