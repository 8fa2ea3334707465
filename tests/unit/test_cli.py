"""The CLI dispatches by module name and turns bad input into one line with exit status 2."""

from __future__ import annotations

import subprocess
import sys

from neurodyn import cli


def test_help_lists_stages(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for stage in ("download", "convert", "simulate", "erdiff", "metadyn", "dcf"):
        assert stage in out
    assert "experiment" in out  # a paper's commands are listed


def test_unknown_stage_and_name(capsys):
    assert cli.main(["frobnicate"]) == 2
    assert cli.main(["simulate", "no-such-model"]) == 2
    assert "NAME must be one of" in capsys.readouterr().err
    assert cli.main(["erdiff", "no-such-command"]) == 2
    assert "COMMAND must be one of: experiment" in capsys.readouterr().err


def test_every_paper_command_resolves_to_a_function():
    """Each paper's COMMANDS names an importable function (a typo would only show when its rule runs)."""
    import importlib

    for paper, package in cli.PAPERS.items():
        for command, (target, _) in importlib.import_module(package).COMMANDS.items():
            module, function = target.split(":")
            assert callable(getattr(importlib.import_module(module), function)), f"{paper} {command}: {target}"


def test_input_error_is_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "neurodyn", "config", "--configfile", "/nonexistent.yaml"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr == "neurodyn config: error: /nonexistent.yaml: expected a YAML config file (no such file)\n"
