"""`cyclescan translate` end to end: geometry, skip/--overwrite, atomic outputs, DICOM output."""

from __future__ import annotations


import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch

from cyclescan.cli.main import main
from cyclescan.errors import InputError
from cyclescan.infer import engine

from .conftest import STATS_A, STATS_B


def _translate(*args: str) -> int:
    return main(["translate", "--quiet", *map(str, args)])


class Pointwise(torch.nn.Module):
    """Stand-in generator (1x1x1 conv + tanh): keeps the real-data geometry test fast on 2 cores."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(x))


@pytest.fixture
def fast_generator(monkeypatch):
    """Replace the checkpoint's generator by the pointwise stand-in (file-handling tests)."""
    import cyclescan.train.checkpoint as ckpt_mod

    torch.manual_seed(0)
    monkeypatch.setattr(ckpt_mod, "build_generator_from_checkpoint", lambda ckpt, direction: Pointwise().eval())


def test_nifti_outputs_keep_shape_and_affine(tmp_path, nifti_dir, tiny_ckpt):
    out = tmp_path / "out"
    assert _translate(nifti_dir, "--checkpoint", tiny_ckpt, "--direction", "a2b", "--out", out) == 0
    for src in sorted(nifti_dir.glob("*.nii.gz")):
        a, b = nib.load(str(src)), nib.load(str(out / src.name))
        assert b.shape == a.shape
        np.testing.assert_allclose(b.affine, a.affine, atol=1e-5)
        assert b.get_data_dtype() == np.float32
        data = np.asarray(b.dataobj)
        assert np.isfinite(data).all() and -100.0 - 1e-3 <= data.min() and data.max() <= 3000.0 + 1e-3
        assert "dess from ciss" in b.header["descrip"].tobytes().decode()
    assert sorted(p.name for p in out.iterdir()) == ["knee0.nii.gz", "knee1.nii.gz"]  # no temporaries


@pytest.mark.parametrize("direction,expected", [("a2b", STATS_B), ("b2a", STATS_A)])
def test_output_is_in_the_target_domains_intensity_scale(tmp_path, nifti_dir, tiny_ckpt, monkeypatch,
                                                         direction, expected):
    """An identity generator maps the input's own [-1, 1] window onto the *target* domain's
    [lo, hi] (a2b -> domain b's stats, b2a -> domain a's), not the source's."""
    import cyclescan.train.checkpoint as ckpt_mod

    monkeypatch.setattr(ckpt_mod, "build_generator_from_checkpoint", lambda ckpt, d: torch.nn.Identity())
    out = tmp_path / "out"
    assert _translate(nifti_dir / "knee0.nii.gz", "--checkpoint", tiny_ckpt, "--direction", direction,
                      "--out", out) == 0
    data = np.asarray(nib.load(str(out / "knee0.nii.gz")).dataobj)
    span = expected.hi - expected.lo
    assert abs(data.min() - expected.lo) < 1e-3 * span and abs(data.max() - expected.hi) < 1e-3 * span
    assert engine.target_stats_from_checkpoint(ckpt_mod.load_checkpoint(tiny_ckpt), direction) == expected


def test_existing_outputs_are_skipped_unless_overwrite(tmp_path, nifti_dir, tiny_ckpt, capsys, fast_generator):
    out = tmp_path / "out"
    src = nifti_dir / "knee0.nii.gz"
    out.mkdir()
    (out / "knee0.nii.gz").write_bytes(b"sentinel")
    args = [src, "--checkpoint", tiny_ckpt, "--direction", "b2a", "--out", out]
    assert main(["translate", *map(str, args)]) == 0
    assert (out / "knee0.nii.gz").read_bytes() == b"sentinel"
    captured = capsys.readouterr()
    assert "exists, skipped" in captured.err + captured.out and "skipped 1" in captured.out
    assert _translate(*args, "--overwrite") == 0
    assert nib.load(str(out / "knee0.nii.gz")).shape == nib.load(str(src)).shape


def test_kill_mid_batch_leaves_finished_outputs_and_no_partial_file(tmp_path, nifti_dir, tiny_ckpt, monkeypatch,
                                                                     fast_generator):
    out = tmp_path / "out"
    jobs = engine.plan_jobs([nifti_dir], out)
    real = engine.write_output
    calls = []

    def dying_write(vol, job, fmt, description, source=None):
        calls.append(job.output.name)
        if len(calls) == 2:  # the 2nd output dies half-way through its write
            from cyclescan.io.atomic import atomic_path

            with atomic_path(job.output) as tmp:
                tmp.write_bytes(b"half a file")
                raise KeyboardInterrupt
        real(vol, job, fmt, description, source)

    monkeypatch.setattr(engine, "write_output", dying_write)
    with pytest.raises(KeyboardInterrupt):
        engine.translate_files([nifti_dir], tiny_ckpt, "a2b", out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == [jobs[0].output.name]
    assert nib.load(str(jobs[0].output)).shape == nib.load(str(jobs[0].source)).shape
    # A kill -9 leaves a hidden temporary; the next run removes it and finishes the rest.
    (out / f".{jobs[1].output.name}.abc123.part.nii.gz").write_bytes(b"junk")
    monkeypatch.setattr(engine, "write_output", real)
    results = engine.translate_files([nifti_dir], tiny_ckpt, "a2b", out, progress=False, log=lambda m: None)
    assert [r.status for r in results] == ["skipped", "written"]
    assert sorted(p.name for p in out.iterdir()) == sorted(j.output.name for j in jobs)


def test_output_name_clash_and_bad_input_are_input_errors(tmp_path, nifti_dir, tiny_ckpt, capsys):
    other = tmp_path / "other"
    other.mkdir()
    (other / "knee0.nii.gz").write_bytes((nifti_dir / "knee0.nii.gz").read_bytes())
    with pytest.raises(InputError, match="also produced by"):
        engine.plan_jobs([nifti_dir, other], tmp_path / "out")
    rc = main(["translate", str(tmp_path / "missing.nii.gz"), "--checkpoint", str(tiny_ckpt),
               "--direction", "a2b", "--out", str(tmp_path / "out")])
    assert rc == 2 and "missing.nii.gz" in capsys.readouterr().err
    rc = main(["translate", str(nifti_dir), "--checkpoint", str(tmp_path / "nope.pt"),
               "--direction", "a2b", "--out", str(tmp_path / "out")])
    assert rc == 2 and "nope.pt" in capsys.readouterr().err


def test_outputs_inside_input_folder_are_not_translated_again(tmp_path, nifti_dir):
    jobs = engine.plan_jobs([nifti_dir], nifti_dir / "translated")
    (nifti_dir / "translated").mkdir()
    (nifti_dir / "translated" / "knee0.nii.gz").write_bytes((nifti_dir / "knee0.nii.gz").read_bytes())
    assert [j.source for j in engine.plan_jobs([nifti_dir], nifti_dir / "translated")] == [j.source for j in jobs]


def test_an_input_folder_inside_out_is_still_an_input(tmp_path, nifti_dir, monkeypatch):
    # --out . data: the inputs lie under --out but were asked for: translate them
    monkeypatch.chdir(nifti_dir.parent)
    jobs = engine.plan_jobs([nifti_dir.name], ".")
    assert sorted(j.source.name for j in jobs) == ["knee0.nii.gz", "knee1.nii.gz"]
    # --out DIR DIR/file: the explicit file would be overwritten: refused, never silently skipped
    with pytest.raises(InputError, match="overwrite the input"):
        engine.plan_jobs([nifti_dir / "knee0.nii.gz"], nifti_dir)
    # --out DIR DIR: everything under --out is taken for earlier outputs: nothing left is an error
    with pytest.raises(InputError, match="inside --out"):
        engine.plan_jobs([nifti_dir], nifti_dir)


def test_dicom_output_is_a_new_series_with_the_input_geometry(tmp_path, nifti_dir, tiny_ckpt, fast_generator):
    from cyclescan.io import read_volume

    src = nifti_dir / "knee1.nii.gz"
    out = tmp_path / "out"
    assert _translate(src, "--checkpoint", tiny_ckpt, "--direction", "a2b", "--out", out, "--format", "dicom") == 0
    series = out / "knee1"
    files = sorted(series.iterdir())
    vol_in = read_volume(src)
    assert len(files) == vol_in.shape[0]
    ds = pydicom.dcmread(files[0])
    assert "DERIVED" in ds.ImageType and "CycleScan" in ds.SeriesDescription
    back = read_volume(series)
    assert back.shape == vol_in.shape
    np.testing.assert_allclose(back.affine, vol_in.affine, atol=1e-3)


def _check_mese_outputs(src, out):
    from cyclescan.io import read_volume

    vol_in = read_volume(src, echo=1)
    nii = nib.load(str(out / "dicom_echo1.nii.gz"))
    assert nii.shape == vol_in.shape == (24, 256, 256)
    np.testing.assert_allclose(nii.affine, vol_in.affine, atol=1e-5)
    assert np.isfinite(np.asarray(nii.dataobj)).all()
    series = out / "dicom_echo1"
    back = read_volume(series)
    assert back.shape == vol_in.shape
    np.testing.assert_allclose(back.affine, vol_in.affine, atol=1e-3)
    ds = pydicom.dcmread(sorted(series.iterdir())[0])
    orig = pydicom.dcmread(sorted(src.iterdir())[0], stop_before_pixels=True)
    assert ds.SeriesInstanceUID != orig.SeriesInstanceUID and ds.StudyInstanceUID == orig.StudyInstanceUID
    assert ds.FrameOfReferenceUID == orig.FrameOfReferenceUID and "DERIVED" in ds.ImageType
    assert not any(p.name.startswith(".") for p in out.iterdir())


@pytest.mark.realdata
def test_real_mese_dicom_echo1_geometry_and_dicom_output(tmp_path, tiny_ckpt, fast_generator, mese_dir):
    """Oblique multi-echo DICOM with slice gaps: NIfTI and DICOM outputs keep its exact geometry."""
    src = mese_dir
    out = tmp_path / "out"
    common = [src, "--checkpoint", tiny_ckpt, "--direction", "a2b", "--echo", "1", "--out", out,
              "--window", "24", "128", "128", "--overlap", "0"]
    assert _translate(*common) == 0
    assert _translate(*common, "--format", "dicom") == 0
    _check_mese_outputs(src, out)


@pytest.mark.realdata
@pytest.mark.slow
def test_real_mese_dicom_with_the_real_generator(tmp_path, tiny_ckpt, mese_dir):
    src = mese_dir
    out = tmp_path / "out"
    common = [src, "--checkpoint", tiny_ckpt, "--direction", "a2b", "--echo", "1", "--out", out,
              "--window", "24", "128", "128", "--overlap", "0.25", "--precision", "fp32"]
    assert _translate(*common) == 0
    assert _translate(*common, "--format", "dicom") == 0
    _check_mese_outputs(src, out)


def test_nan_weights_end_in_one_line_and_no_output(tmp_path, nifti_dir, tiny_ckpt, capsys):
    ckpt = torch.load(tiny_ckpt, weights_only=True)
    for k, v in ckpt["nets"]["G_ab"].items():
        if v.is_floating_point():
            v.fill_(float("nan"))
    bad = tmp_path / "nan.pt"
    torch.save(ckpt, bad)
    out = tmp_path / "out"
    assert _translate(nifti_dir / "knee0.nii.gz", "--checkpoint", bad, "--direction", "a2b", "--out", out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "NaN/Inf" in err[0] and "weights" in err[0]
    assert not out.exists() or list(out.iterdir()) == []


def test_out_that_is_a_file_says_so(tmp_path, nifti_dir, tiny_ckpt, capsys, fast_generator):
    (tmp_path / "afile").write_text("x")
    assert _translate(nifti_dir / "knee0.nii.gz", "--checkpoint", tiny_ckpt, "--direction", "a2b",
                      "--out", tmp_path / "afile") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "afile: exists and is not a folder" in err[0]
