"""The whole bad-input corpus through every CLI command that takes it (issue 8).

Each case must end with ONE error line on stderr that names the problem (and the file), exit 2
(input) or 1 (internal), no traceback, and leave the output location and the inputs untouched
(snapshot of every file and folder, with size and mtime, before and after). Most cases run
in-process through ``cyclescan.cli.main.main`` (fast); permission cases and a few others run as
subprocesses (the real no-traceback guarantee), with root's CAP_DAC_OVERRIDE dropped by setpriv
so that mode 000 / 555 mean something even for root.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from cyclescan.cli.main import main

# name -> regex the error line must match (for translate/train/evaluate on a volume input)
VOLUME_ERRORS = {
    "missing": "no such file|not found",
    "empty_folder": "no NIfTI files or DICOM series",
    "not_an_image": "not a readable NIfTI",
    "not_an_image_txt": "not a NIfTI",
    "truncated_nifti": "truncated or corrupt|not a readable NIfTI",
    "zero_byte": "not a readable NIfTI.*[Ee]mpty",
    "image_2d": "2D",
    "image_2d_singleton": "2D",
    "image_4d": "choose one with --echo",
    "nan": "NaN/Inf",
    "inf": "NaN/Inf",
    "constant": "constant",
    "zero_spacing": "voxel size",
    "singular_affine": "singular",
    "dicom_missing_slice": "missing slice",
    "dicom_mixed_uids": "mixed series",
    "dicom_no_pixels": "[Pp]ixel [Dd]ata",
    "dicom_single_file": "single DICOM file",
    "dicom_multi_echo": "choose one with --echo",
}
CKPT_ERRORS = {
    "missing": "not found",
    "ckpt_empty": "empty",
    "ckpt_truncated": "truncated or corrupt",
    "ckpt_pickle": "pickle code execution",
    "ckpt_not_cyclescan": "not a CycleScan checkpoint",
    "ckpt_other_arch": "incompatible|cannot restore",
}
CONFIG_ERRORS = {
    "missing": "config file not found",
    "config_unknown_key": "unknown config key train.epochz",
    "config_wrong_type": "train.epochs: expected an integer",
    "config_out_of_range": "optim.lr: 5.0 is above the maximum",
    "config_not_yaml": "not valid YAML",
}
REPORT_ERRORS = {
    "missing": "run folder not found",
    "not_an_image": "is a file, not a run folder",
    "run_empty": "nothing to report",
    "run_bad_history": "history.csv",
    "run_bad_metrics": "metrics",
}
# Accepted edge cases: they translate, keeping the input's geometry (documented in docs/reliability.md).
ACCEPTED = ("small", "negative_pixdim")


@dataclass
class Case:
    """One CLI invocation: argv built from (corpus, out root), expected exit code and message."""

    id: str
    argv: Callable[[dict, Path], list[str]]
    pattern: str
    names: Callable[[dict, Path], str] = lambda c, o: ""  # a path the message must contain
    code: int = 2
    setup: Callable[[dict, Path], None] = lambda c, o: None


def _tiny(c: dict) -> list[str]:
    return ["--config", str(c["config_tiny"]), "--quiet"]


def _eval_target(c: dict, name: str) -> Path:
    """A folder holding a good volume under the pairing key of corpus entry ``name``."""
    from cyclescan.io.nifti import volume_stem

    d = c["good_nifti"].parent.parent / "eval_targets" / name  # outside the watched corpus folder
    if not d.is_dir():
        d.mkdir(parents=True)
        shutil.copy(c["good_nifti"], d / f"{volume_stem(c[name])}.nii.gz")
    return d


def _resume_setup(name: str):
    def setup(c: dict, out: Path) -> None:
        (out / "run" / "checkpoints").mkdir(parents=True)
        if name != "missing":
            shutil.copy(c[name], out / "run" / "checkpoints" / "last.pt")
    return setup


def build_cases() -> list[Case]:
    cases: list[Case] = []
    for name, pat in VOLUME_ERRORS.items():
        cases.append(Case(f"translate-{name}", lambda c, o, n=name: [
            "translate", str(c[n]), "--checkpoint", str(c["good_checkpoint"]), "--direction", "a2b",
            "--out", str(o / "out"), "--quiet"], pat, lambda c, o, n=name: str(c[n])))
        cases.append(Case(f"train-{name}", lambda c, o, n=name: [
            "train", "--a", str(c[n]), "--b", str(c["good_dir_b"]), "--out", str(o / "run"), *_tiny(c)],
            pat, lambda c, o, n=name: str(c[n])))
        cases.append(Case(f"evaluate-{name}", lambda c, o, n=name: [
            "evaluate", "--checkpoint", str(c["good_checkpoint"]), "--direction", "a2b", "--source", str(c[n]),
            "--target", str(_eval_target(c, n) if n != "missing" else c["good_dir_b"]),
            "--out", str(o / "metrics.json"), "--quiet"], pat, lambda c, o, n=name: str(c[n])))
    for name, pat in CKPT_ERRORS.items():
        ck = "missing" if name == "missing" else name
        cases.append(Case(f"translate-ckpt-{name}", lambda c, o, n=ck: [
            "translate", str(c["good_nifti"]), "--checkpoint", str(c[n]), "--direction", "a2b",
            "--out", str(o / "out"), "--quiet"], pat, lambda c, o, n=ck: str(c[n])))
        cases.append(Case(f"evaluate-ckpt-{name}", lambda c, o, n=ck: [
            "evaluate", "--checkpoint", str(c[n]), "--direction", "a2b", "--source", str(c["good_dir_a"]),
            "--target", str(c["good_dir_a"]), "--out", str(o / "metrics.json"), "--quiet"],
            pat, lambda c, o, n=ck: str(c[n])))
        cases.append(Case(f"train-resume-{name}", lambda c, o: [
            "train", "--a", str(c["good_dir_a"]), "--b", str(c["good_dir_b"]), "--out", str(o / "run"),
            "--resume", *_tiny(c)], "nothing to resume" if name == "missing" else pat,
            lambda c, o: str(o / "run" / "checkpoints" / "last.pt"), setup=_resume_setup(ck)))
    # A checkpoint of this project, but of another configuration than the one asked for.
    cases.append(Case("train-resume-other-config", lambda c, o: [
        "train", "--a", str(c["good_dir_a"]), "--b", str(c["good_dir_b"]), "--out", str(o / "run"),
        "--resume", *_tiny(c), "--set", "generator.base_channels=8"], "incompatible architecture: generator.base_channels",
        lambda c, o: str(o / "run" / "checkpoints" / "last.pt"), setup=_resume_setup("good_checkpoint")))
    # An inference-only checkpoint (no optimizer/RNG state) cannot be resumed.
    cases.append(Case("train-resume-inference-only", lambda c, o: [
        "train", "--a", str(c["good_dir_a"]), "--b", str(c["good_dir_b"]), "--out", str(o / "run"),
        "--resume", *_tiny(c)], "cannot restore training state",
        lambda c, o: str(o / "run" / "checkpoints" / "last.pt"), setup=_resume_setup("good_checkpoint")))
    for name, pat in CONFIG_ERRORS.items():
        cases.append(Case(f"train-config-{name}", lambda c, o, n=name: [
            "train", "--a", str(c["good_dir_a"]), "--b", str(c["good_dir_b"]), "--out", str(o / "run"),
            "--config", str(c[n] if n != "missing" else c["missing"].with_suffix(".yaml")), "--quiet"],
            pat, lambda c, o, n=name: str(c[n] if n != "missing" else c["missing"].with_suffix(".yaml"))))
    for name, pat in REPORT_ERRORS.items():
        cases.append(Case(f"report-{name}", lambda c, o, n=name: ["report", str(c[n]), "--out", str(o / "report")],
                          pat, lambda c, o, n=name: str(c[n])))
        cases.append(Case(f"report-default-out-{name}", lambda c, o, n=name: ["report", str(c[n])],
                          pat, lambda c, o, n=name: str(c[n])))
    return cases


# Cases that need a process without CAP_DAC_OVERRIDE (mode bits mean nothing to root otherwise).
def build_permission_cases() -> list[Case]:
    ro = lambda c: c["readonly_dir"]  # noqa: E731
    return [
        Case("translate-unreadable", lambda c, o: [
            "translate", str(c["unreadable"]), "--checkpoint", str(c["good_checkpoint"]), "--direction", "a2b",
            "--out", str(o / "out"), "--quiet"], "[Pp]ermission denied", lambda c, o: str(c["unreadable"])),
        Case("train-unreadable", lambda c, o: [
            "train", "--a", str(c["unreadable"]), "--b", str(c["good_dir_b"]), "--out", str(o / "run"), *_tiny(c)],
            "[Pp]ermission denied", lambda c, o: str(c["unreadable"])),
        Case("translate-readonly-out", lambda c, o: [
            "translate", str(c["good_nifti"]), "--checkpoint", str(c["good_checkpoint"]), "--direction", "a2b",
            "--out", str(ro(c) / "out"), "--quiet"], "[Pp]ermission denied", lambda c, o: str(ro(c))),
        Case("train-readonly-out", lambda c, o: [
            "train", "--a", str(c["good_dir_a"]), "--b", str(c["good_dir_b"]), "--out", str(ro(c) / "run"), *_tiny(c)],
            "[Pp]ermission denied", lambda c, o: str(ro(c))),
        Case("evaluate-readonly-out", lambda c, o: [
            "evaluate", "--checkpoint", str(c["good_checkpoint"]), "--direction", "a2b", "--source",
            str(c["good_dir_a"]), "--target", str(c["good_dir_a"]), "--out", str(ro(c) / "m" / "metrics.json"),
            "--quiet"], "[Pp]ermission denied", lambda c, o: str(ro(c))),
        Case("report-readonly-out", lambda c, o: ["report", str(c["run_good"]), "--out", str(ro(c) / "rep")],
             "[Pp]ermission denied", lambda c, o: str(ro(c))),
    ]


CASES = build_cases()
PERMISSION_CASES = build_permission_cases()
# In-process cases that are also run once as real subprocesses (stderr as a user sees it).
SUBPROCESS_IDS = ("translate-nan", "train-truncated_nifti", "translate-ckpt-ckpt_pickle", "report-run_bad_history")


def snapshot(*roots: Path) -> dict[str, tuple]:
    """Every file and folder under ``roots``: (kind, size, mtime_ns) by path."""
    out: dict[str, tuple] = {}
    for root in roots:
        if not root.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            for n in dirnames + filenames:
                p = Path(dirpath) / n
                st = p.lstat()
                out[str(p)] = ("d" if p.is_dir() else "f", 0 if p.is_dir() else st.st_size, st.st_mtime_ns)
    return out


def assert_one_error_line(cmd: str, rc: int, err: str, case: Case, corpus: dict, out: Path) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err, err
    assert lines, f"no message on stderr (rc {rc})"
    last = lines[-1]
    errors = [ln for ln in lines if re.search(r"\berror\b", ln)]
    assert errors == [last], f"expected one error line, last; got:\n{err}"
    assert rc == case.code, f"exit {rc} != {case.code}: {last}"
    kind = "error" if rc == 2 else "internal error"
    assert last.startswith(f"cyclescan {cmd}: {kind}: "), last
    assert re.search(case.pattern, last), f"{case.pattern!r} not in {last!r}"
    assert case.names(corpus, out) in last, f"{case.names(corpus, out)!r} not named in {last!r}"


def _run_in_process(case: Case, corpus: dict, out: Path, capsys) -> None:
    case.setup(corpus, out)
    argv = case.argv(corpus, out)
    watch = [out, corpus["readonly_dir"].parent]
    before = snapshot(*watch)
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err
    assert_one_error_line(argv[0], rc, err, case, corpus, out)
    assert snapshot(*watch) == before, "files were created or modified"
    assert not corpus["pickle_marker"].exists(), "a checkpoint executed pickle code"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_corpus_cli_in_process(case: Case, full_corpus, tmp_path, capsys):
    _run_in_process(case, full_corpus, tmp_path, capsys)


def _subprocess(argv: list[str], drop_caps: bool) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "cyclescan.cli.main", *argv]
    if drop_caps and os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: permission bits cannot be tested")
        cmd = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--", *cmd]
    env = {k: v for k, v in os.environ.items() if k not in ("CYCLESCAN_DEBUG", "CYCLESCAN_FAULT")}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def _run_subprocess(case: Case, corpus: dict, out: Path, drop_caps: bool) -> None:
    case.setup(corpus, out)
    argv = case.argv(corpus, out)
    watch = [out, corpus["readonly_dir"].parent]
    before = snapshot(*watch)
    proc = _subprocess(argv, drop_caps)
    assert_one_error_line(argv[0], proc.returncode, proc.stderr, case, corpus, out)
    assert snapshot(*watch) == before, "files were created or modified"


FAST_SUBPROCESS = ("translate-unreadable", "translate-readonly-out", "report-readonly-out", "report-run_bad_history")


def _params(cases: list[Case]) -> list:
    """Subprocess cases: a few in the fast suite, the rest (torch import each, seconds) slow-marked."""
    return [pytest.param(c, id=c.id, marks=() if c.id in FAST_SUBPROCESS else pytest.mark.slow) for c in cases]


@pytest.mark.parametrize("case", _params(PERMISSION_CASES))
def test_permission_cases_subprocess(case: Case, full_corpus, tmp_path):
    _run_subprocess(case, full_corpus, tmp_path, drop_caps=True)


@pytest.mark.parametrize("case", _params([c for c in CASES if c.id in SUBPROCESS_IDS]))
def test_no_traceback_in_real_process(case: Case, full_corpus, tmp_path):
    _run_subprocess(case, full_corpus, tmp_path, drop_caps=False)


@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted_edge_cases_translate_with_geometry(name: str, full_corpus, tmp_path, capsys):
    """Smaller-than-patch volumes are padded; a negative/zero pixdim without sform/qform is read as
    nibabel does (absolute values). Both translate, keeping the input's shape and affine."""
    import numpy as np

    from cyclescan.io import read_volume

    rc = main(["translate", str(full_corpus[name]), "--checkpoint", str(full_corpus["good_checkpoint"]),
               "--direction", "a2b", "--out", str(tmp_path), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    src = read_volume(full_corpus[name])
    out = read_volume(tmp_path / full_corpus[name].name)
    assert out.shape == src.shape
    np.testing.assert_allclose(out.affine, src.affine, atol=1e-5)
    assert np.isfinite(out.array).all()


def test_corpus_size_and_coverage(full_corpus):
    """At least 20 malformed inputs, each used by some case."""
    used = set(VOLUME_ERRORS) | set(CKPT_ERRORS) | set(CONFIG_ERRORS) | set(REPORT_ERRORS) | {"unreadable", "readonly_dir"}
    assert used <= set(full_corpus)
    assert len(used) >= 20
