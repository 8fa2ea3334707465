"""The CLI dispatches by module name and turns bad input into one line with exit status 2."""

from __future__ import annotations

import subprocess
import sys

from neurodyn import cli


def test_help_lists_stages(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for stage in ("download", "convert", "train", "figure"):
        assert stage in out


def test_unknown_stage_and_name(capsys):
    assert cli.main(["frobnicate"]) == 2
    assert cli.main(["train", "no-such-model"]) == 2
    assert "NAME must be one of" in capsys.readouterr().err


def test_input_error_is_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "neurodyn", "config", "--configfile", "/nonexistent.yaml"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr == "neurodyn config: error: /nonexistent.yaml: expected a YAML config file (no such file)\n"
