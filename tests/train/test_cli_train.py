"""`cyclescan train` CLI: options, one-line errors with exit codes, a 1-step run, --phantom layout."""

from __future__ import annotations

import argparse

import pytest

from cyclescan.cli.main import main
from cyclescan.cli.train import resolve_dirs
from cyclescan.errors import InputError
from cyclescan.train import checkpoint as ck

from tiny_run import TINY


def _sets(*extra):
    return [x for s in [*TINY, *extra] for x in ("--set", s)]


def test_help_lists_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--a", "--b", "--out", "--val-a", "--val-b", "--config", "--set", "--epochs", "--resume", "--seed",
                "--device", "--phantom"):
        assert opt in out


@pytest.mark.parametrize("argv, needle", [
    (["--out", "R"], "--a DIR and --b DIR"),
    (["--a", "/nonexistent_a", "--b", "/nonexistent_b", "--out", "R"], "/nonexistent_a"),
    (["--a", ".", "--b", ".", "--out", "R", "--set", "train.nope=1"], "unknown key"),
    (["--a", ".", "--b", ".", "--out", "R", "--set", "train.epochs=0"], "train.epochs"),
])
def test_user_errors_one_line_exit_2(tmp_path, capsys, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    assert main(["train", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "R").exists()


def test_out_file_and_non_phantom_folder_are_refused_before_loading(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "notph").mkdir()
    assert main(["train", "--a", str(tmp_path), "--b", str(tmp_path / "notph"), "--out", str(tmp_path / "afile")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a file, not a run folder" in err[0]
    assert main(["train", "--phantom", str(tmp_path / "notph"), "--out", str(tmp_path / "R")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a phantom folder" in err[0] and "--a" not in err[0]


def test_one_step_run_and_resume(tmp_path, tiny_dataset, capsys):
    out = tmp_path / "RUN"
    argv = ["train", "--a", str(tiny_dataset["a_train"]), "--b", str(tiny_dataset["b_train"]), "--out", str(out),
            "--quiet", *_sets("train.steps_per_epoch=1"), "--epochs", "1", "--seed", "3"]
    assert main(argv) == 0
    assert "best checkpoint" in capsys.readouterr().out
    last = ck.load_checkpoint(out / "checkpoints" / "last.pt")
    assert last["epoch"] == 1 and last["step"] == 1 and last["config"]["train"]["seed"] == 3
    # rerun without --resume is refused; --resume with more epochs continues
    assert main(argv) == 2
    assert "--resume" in capsys.readouterr().err
    assert main([*argv[:-4], "--epochs", "2", "--seed", "3", "--resume"]) == 0
    assert ck.load_checkpoint(out / "checkpoints" / "last.pt")["epoch"] == 2


def test_phantom_layout(tmp_path):
    for p in ("ciss/train", "dess/train", "ciss/val", "dess/val"):
        (tmp_path / p).mkdir(parents=True)
    ns = argparse.Namespace(a=None, b=None, val_a=None, val_b=None, phantom=str(tmp_path))
    a, b, va, vb = resolve_dirs(ns, ("ciss", "dess"))
    assert (a, b, va, vb) == (tmp_path / "ciss/train", tmp_path / "dess/train", tmp_path / "ciss/val",
                              tmp_path / "dess/val")
    with pytest.raises(InputError, match="val"):
        resolve_dirs(argparse.Namespace(a="x", b="y", val_a="z", val_b=None, phantom=None), ("a", "b"))


@pytest.mark.slow
def test_three_epoch_phantom_run_writes_every_artifact(tmp_path, capsys):
    from cyclescan.phantom import generate_dataset
    from cyclescan.train.history import History

    ph = generate_dataset(tmp_path / "ph", train_subjects=2, val_subjects=1, test_subjects=1, shape=(16, 32, 32),
                          seed=0, preview=False)
    out = tmp_path / "RUN"
    sets = [s for s in TINY if not s.startswith("train.deterministic")]
    argv = ["train", "--phantom", str(ph), "--out", str(out), "--quiet", "--set", "domains.a=ciss",
            "--set", "domains.b=dess", *[x for s in sets for x in ("--set", s)], "--epochs", "3"]
    assert main(argv) == 0, capsys.readouterr().err
    for rel in ("config.yaml", "train.log", "history.csv", "checkpoints/last.pt", "checkpoints/best.pt",
                "checkpoints/epoch_0002.pt", "samples/epoch_0001.png", "samples/epoch_0003.png"):
        assert (out / rel).is_file(), rel
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    rows = History.read_csv(out / "history.csv")
    assert len(rows) == 3 and "val_kl_a2b" in rows[0] and "val_kl_b2a" in rows[0]
    assert ck.load_checkpoint(out / "checkpoints" / "best.pt")["best"]["metric"] == "kl_cycle"
