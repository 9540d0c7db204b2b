"""`cyclescan COMMAND --help`: every subcommand's help prints, shows the defaults that say something
and not the empty ones ("(default: None)" on required options, "(default: False)" on flags)."""

from __future__ import annotations

import pytest

from cyclescan.cli.main import SUBCOMMANDS, main


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help_hides_empty_defaults(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: cyclescan " + command)
    for empty in ("(default: None)", "(default: False)", "(default: [])"):
        assert empty not in out


def test_help_keeps_real_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "(default: auto)" in out  # --device
    assert "histmatch_detail" in out
