"""`cyclescan phantom` end to end through the CLI entry point."""

from __future__ import annotations

import json

from cyclescan.cli.main import main


def test_cli_phantom_end_to_end(tmp_path, capsys):
    out = tmp_path / "ph"
    argv = ["phantom", str(out), "--shape", "8", "24", "24", "--train-subjects", "1", "--val-subjects", "1",
            "--test-subjects", "1", "--snr", "30", "--seed", "5", "--quiet"]
    assert main(argv) == 0
    meta = json.loads((out / "phantom.json").read_text())
    assert meta["parameters"]["shape"] == [8, 24, 24] and meta["parameters"]["snr"] == 30.0
    assert len(list(out.rglob("*.nii.gz"))) == 2 + 2 + 5
    assert (out / "preview.png").is_file()
    # a second run into the same folder is a user error: one line, exit 2
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not empty" in err[0]
    assert main(argv + ["--overwrite", "--no-preview"]) == 0


def test_overwrite_never_deletes_a_folder_that_is_not_a_phantom(tmp_path, capsys):
    user = tmp_path / "mine"
    (user / "ciss").mkdir(parents=True)
    (user / "ciss" / "notes.txt").write_text("mine")
    argv = ["phantom", str(user), "--shape", "8", "24", "24", "--train-subjects", "1", "--val-subjects", "0",
            "--test-subjects", "0", "--quiet", "--no-preview", "--overwrite"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no phantom.json" in err[0]
    assert (user / "ciss" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in user.iterdir()) == ["ciss"]


def test_bad_seed_is_refused_before_any_folder_is_made(tmp_path, capsys):
    for seed in ("-1", str(2**64)):
        out = tmp_path / f"s{seed}"
        argv = ["phantom", str(out), "--shape", "8", "24", "24", "--seed", seed, "--quiet", "--no-preview"]
        assert main(argv) == 2
        assert "--seed" in capsys.readouterr().err
        assert not out.exists()
