"""User-facing error messages: one accurate line on stderr that names the file and the real reason.

Each case runs the CLI (``cyclescan.cli.main.main``) and checks exit 2, exactly one non-empty
stderr line ``cyclescan <cmd>: error: ...`` and the key words of the message.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from cyclescan.cli.main import main

from badinput.corpus import TINY_CONFIG, _ExecOnLoad, _series, _yaml, make_checkpoint, phantom_array, tiny_config_dict


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    import torch

    root = tmp_path_factory.mktemp("messages")
    f: dict[str, Path] = {}
    f["good_ckpt"] = make_checkpoint(root / "good.pt")
    f["other_arch"] = make_checkpoint(root / "other_arch.pt",
                                      weights_config=tiny_config_dict(generator={"base_channels": 8}))
    ck = torch.load(f["good_ckpt"], weights_only=True)
    del ck["nets"]["G_ba"]
    f["only_ab"] = root / "only_ab.pt"
    torch.save(ck, f["only_ab"])
    f["text_ckpt"] = root / "notes.pt"
    f["text_ckpt"].write_text("this is a text file, not a checkpoint\n")
    f["pickle_marker"] = root / "PICKLE_CODE_RAN"
    f["legacy_pickle"] = root / "legacy_pickle.pt"  # pre-1.6 torch.save format (a bare pickle) that runs code
    buf = io.BytesIO()
    torch.save({"format_version": 1, "x": _ExecOnLoad(f["pickle_marker"])}, buf, _use_new_zipfile_serialization=False)
    f["legacy_pickle"].write_bytes(buf.getvalue())
    f["zip_pickle"] = root / "zip_pickle.pt"
    torch.save({"format_version": 1, "x": _ExecOnLoad(f["pickle_marker"])}, f["zip_pickle"])
    f["a_folder"] = root / "a_folder"
    f["a_folder"].mkdir()
    f["a_file"] = root / "a_file.txt"
    f["a_file"].write_text("x\n")
    f["config"] = _yaml(root / "tiny.yaml", TINY_CONFIG)
    f["good_nifti"] = root / "good.nii.gz"
    nib.save(nib.Nifti1Image(phantom_array(), np.eye(4)), str(f["good_nifti"]))
    f["one_d"] = root / "one_d.nii.gz"
    nib.save(nib.Nifti1Image(np.arange(32, dtype=np.float32), np.eye(4)), str(f["one_d"]))
    f["thin"] = root / "thin.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((1, 2, 2), np.float32), np.eye(4)), str(f["thin"]))
    for name, text in (("run_empty_history", ""), ("run_header_only", "epoch,step,lr,sec")):
        (root / name).mkdir()
        (root / name / "history.csv").write_text(text)
        f[name] = root / name

    # Two series in one folder, without SeriesDescription (the old message showed "(?)").
    mixed = _series(root / "dicom_mixed", n=4, seed=1)
    other = _series(root / "_other", n=4, seed=2)
    for p in sorted(other.iterdir()):
        shutil.move(str(p), mixed / f"B{p.name}")
    other.rmdir()
    for p in sorted(mixed.iterdir()):
        ds = pydicom.dcmread(p)
        del ds.SeriesDescription
        ds.save_as(p)
    f["dicom_mixed"] = mixed
    trunc = _series(root / "dicom_truncated", n=4, seed=3)
    victim = sorted(trunc.iterdir())[1]
    victim.write_bytes(victim.read_bytes()[:-200])  # header intact, pixel data short
    f["dicom_truncated"] = trunc
    f["dicom_truncated_file"] = victim
    return f


def _one_error(capsys, rc: int, cmd: str) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err, err
    assert rc == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"cyclescan {cmd}: error: "), lines[0]
    return lines[0]


def _translate(src: Path, ckpt: Path, out: Path, direction: str = "a2b") -> list[str]:
    return ["translate", str(src), "--checkpoint", str(ckpt), "--direction", direction, "--out", str(out), "--quiet"]


# 1. architecture mismatch: the first concrete difference, on the same line
def test_incompatible_weights_names_first_mismatch(files, tmp_path, capsys):
    rc = main(_translate(files["good_nifti"], files["other_arch"], tmp_path / "out"))
    line = _one_error(capsys, rc, "translate")
    assert f"incompatible weights for G_ab from {files['other_arch']}" in line
    assert re.search(r"size mismatch for \S+: shape \[8, .*\] in the checkpoint vs \[4, .*\] in the model", line), line
    assert not line.rstrip().endswith(":"), line


# 2. not a checkpoint at all vs a pickle that needs code execution
def test_text_file_is_not_a_pytorch_checkpoint(files, tmp_path, capsys):
    rc = main(_translate(files["good_nifti"], files["text_ckpt"], tmp_path / "out"))
    line = _one_error(capsys, rc, "translate")
    assert line.endswith(f"{files['text_ckpt']}: not a PyTorch checkpoint file"), line
    assert "pickle" not in line


@pytest.mark.parametrize("name", ["zip_pickle", "legacy_pickle"])
def test_code_executing_pickle_still_refused(files, name, tmp_path, capsys):
    rc = main(_translate(files["good_nifti"], files[name], tmp_path / "out"))
    line = _one_error(capsys, rc, "translate")
    assert f"{files[name]}: refused, the checkpoint requires pickle code execution" in line, line
    assert not files["pickle_marker"].exists(), "a checkpoint executed pickle code"


# 3. permission denied (mode 000; root's CAP_DAC_OVERRIDE is dropped with setpriv so it means something)
def test_unreadable_checkpoint_says_permission_denied(files, tmp_path):
    ckpt = tmp_path / "noperm.pt"
    shutil.copy(files["good_ckpt"], ckpt)
    os.chmod(ckpt, 0)
    cmd = [sys.executable, "-m", "cyclescan.cli.main",
           *_translate(files["good_nifti"], ckpt, tmp_path / "out")]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: permission bits cannot be tested")
        cmd = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--", *cmd]
    env = {k: v for k, v in os.environ.items() if k not in ("CYCLESCAN_DEBUG", "CYCLESCAN_FAULT")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0] == f"cyclescan translate: error: {ckpt}: permission denied", lines[0]


# 4. a folder where a file is expected, and a file where a folder is expected
def test_folder_as_checkpoint(files, tmp_path, capsys):
    rc = main(_translate(files["good_nifti"], files["a_folder"], tmp_path / "out"))
    line = _one_error(capsys, rc, "translate")
    assert line.endswith(f"{files['a_folder']}: is a folder, not a checkpoint file"), line


def test_folder_as_config(files, tmp_path, capsys):
    rc = main(["train", "--a", str(files["good_nifti"]), "--b", str(files["good_nifti"]),
               "--out", str(tmp_path / "run"), "--config", str(files["a_folder"]), "--quiet"])
    line = _one_error(capsys, rc, "train")
    assert line.endswith(f"{files['a_folder']}: is a folder, not a config file"), line
    assert not (tmp_path / "run").exists()


def test_file_as_run_folder(files, tmp_path, capsys):
    rc = main(["report", str(files["a_file"]), "--out", str(tmp_path / "rep")])
    line = _one_error(capsys, rc, "report")
    assert f"{files['a_file']}: is a file, not a run folder" in line, line


# 5. history.csv present but empty / without rows
@pytest.mark.parametrize("name, why", [("run_empty_history", "is empty"), ("run_header_only", "holds no epoch rows")])
def test_report_names_empty_history(files, name, why, tmp_path, capsys):
    rc = main(["report", str(files[name]), "--out", str(tmp_path / "rep")])
    line = _one_error(capsys, rc, "report")
    assert f"{files[name] / 'history.csv'}: history.csv {why}" in line, line
    assert "no history.csv" not in line


# 6. DICOM: mixed series without "(?)"; a truncated file's message is a complete clause
def test_dicom_mixed_series_names_each_series(files, tmp_path, capsys):
    rc = main(_translate(files["dicom_mixed"], files["good_ckpt"], tmp_path / "out"))
    line = _one_error(capsys, rc, "translate")
    assert f"{files['dicom_mixed']}: mixed series: 2 SeriesInstanceUIDs in one folder" in line, line
    assert "(?)" not in line and "?" not in line
    assert "4 file(s) from BIM0001.dcm" in line and "4 file(s) from IM0001.dcm" in line, line
    assert line.endswith("put each series in its own folder"), line


def test_dicom_truncated_pixel_data_is_a_complete_sentence(files, tmp_path, capsys):
    rc = main(_translate(files["dicom_truncated"], files["good_ckpt"], tmp_path / "out"))
    line = _one_error(capsys, rc, "translate")
    assert str(files["dicom_truncated_file"]) in line, line
    assert re.search(r"cannot decode the pixel data \(only \d+ of \d+ bytes of pixel data; "
                     r"the file is truncated or corrupt\)$", line), line


# 7. NIfTI: say what the image really is
def test_nifti_1d(files, tmp_path, capsys):
    rc = main(_translate(files["one_d"], files["good_ckpt"], tmp_path / "out"))
    line = _one_error(capsys, rc, "translate")
    assert f"{files['one_d']}: image is 1D (shape (32,)); a 3D volume is needed" in line, line


def test_nifti_singleton_dimension(files, tmp_path, capsys):
    rc = main(_translate(files["thin"], files["good_ckpt"], tmp_path / "out"))
    line = _one_error(capsys, rc, "translate")
    assert f"{files['thin']}: image has a dimension of size 1 (shape (1, 2, 2))" in line, line
    assert "at least 2 voxels per axis" in line


# 8. one generator only: name the missing one; the other direction still works
def test_missing_generator_is_named(files, tmp_path, capsys):
    rc = main(_translate(files["good_nifti"], files["only_ab"], tmp_path / "out", "b2a"))
    line = _one_error(capsys, rc, "translate")
    assert line.endswith(f"{files['only_ab']}: checkpoint has no weights for G_ba (direction b2a)"), line
    rc = main(_translate(files["good_nifti"], files["only_ab"], tmp_path / "out_ab", "a2b"))
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "out_ab" / files["good_nifti"].name).is_file()
