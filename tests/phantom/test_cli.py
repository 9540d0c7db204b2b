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
