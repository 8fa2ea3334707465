"""The one job protocol (neurodyn.utils.jobargs): --inputs ROLE=PATH..., --params JSON, --out PATH | ROLE=PATH...;
and every command the demo and full DAGs plan speaks it (each parses, in process, with the check-only switch)."""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from neurodyn import cli
from neurodyn.errors import InputError
from neurodyn.utils import jobargs

REPO = Path(__file__).resolve().parents[2]


def _parser(**kw) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="t")
    jobargs.add_job_arguments(parser, **kw)
    return parser


def test_roles_collect_their_paths_as_snakemake_renders_them():
    # Snakemake renders runs={input.runs:q} as "runs=a b" (a list) and "runs=" (an empty one)
    parser = _parser(inputs={"runs": "*", "sessions": "+", "pretrained": "?", "source": "1"}, outputs=["csv", "md", "png?"])
    args = jobargs.parse_job_args(parser, ["--inputs", "runs=", "sessions=a.zarr", "b c.zarr", "source=x=y.nwb",
                                           "--params", '{"k": 1}', "--out", "csv=t.csv", "md=t.md"])
    assert args.inputs == {"runs": [], "sessions": ["a.zarr", "b c.zarr"], "pretrained": None, "source": "x=y.nwb"}
    assert args.params == {"k": 1}
    assert args.out == {"csv": "t.csv", "md": "t.md", "png": None}
    # a path with "=" whose prefix is not a role stays a path of the role before it
    args = jobargs.parse_job_args(parser, ["--inputs", "sessions=a", "k=v.zarr", "source=s", "--params", "{}", "--out", "csv=c", "md=m"])
    assert args.inputs["sessions"] == ["a", "k=v.zarr"]


def test_one_output_is_a_path_and_params_may_be_absent():
    args = jobargs.parse_job_args(_parser(inputs={"sessions": "*"}, params=False), ["--out", "rec"])
    assert args.out == "rec" and args.inputs == {"sessions": []} and not hasattr(args, "params")


@pytest.mark.parametrize("argv, field, expected", [
    (["--inputs", "a.zarr", "--params", "{}", "--out", "o"], "a.zarr", "ROLE=PATH"),           # no role first
    (["--inputs", "source=", "--params", "{}", "--out", "o"], "source", "one path"),           # '1' role empty
    (["--inputs", "source=a", "b", "--params", "{}", "--out", "o"], "source", "one path"),     # '1' role with two
    (["--inputs", "source=a", "sessions=", "--params", "{}", "--out", "o"], "sessions", "at least one path"),
    (["--inputs", "source=a", "sessions=s", "sessions=t", "--params", "{}", "--out", "o"], "sessions", "each role once"),
    (["--inputs", "source=a", "sessions=s", "--params", "[1]", "--out", "o"], "", "a JSON object"),
    (["--inputs", "source=a", "sessions=s", "--params", "{nope", "--out", "o"], "", "a JSON object"),
])
def test_bad_use_is_one_line_naming_the_role(argv, field, expected):
    parser = _parser(inputs={"source": "1", "sessions": "+"})
    with pytest.raises(InputError) as err:
        jobargs.parse_job_args(parser, argv)
    assert err.value.field == field and expected in err.value.expected


def test_an_output_role_left_out_or_unknown_is_refused():
    parser = _parser(outputs=["pdf", "png"], params=False)
    with pytest.raises(InputError, match="png: expected one path"):
        jobargs.parse_job_args(parser, ["--out", "pdf=a.pdf"])
    with pytest.raises(InputError, match="ROLE=PATH"):
        jobargs.parse_job_args(parser, ["--out", "a.pdf", "pdf=b.pdf", "png=c.png"])


def test_cli_reports_a_protocol_error_in_one_line_exit_2(tmp_path, capsys):
    code = cli.main(["convert", "--inputs", str(tmp_path / "x.nwb"), "--params", "{}", "--out", str(tmp_path / "o.zarr")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--inputs" in err[0] and "ROLE=PATH" in err[0]
    assert not (tmp_path / "o.zarr").exists()


def _planned_commands(*configs: str) -> list[list[str]]:
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-F", "--printshellcmds", "--cores", "1", "--configfile", *configs],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    commands = []
    for line in (proc.stdout + proc.stderr).splitlines():
        line = line.strip()
        if line.startswith("Shell command: "):
            line = line[len("Shell command: "):]
        if line.startswith("neurodyn "):
            commands.append(shlex.split(line.split(" 2> ")[0])[1:])
    return commands


@pytest.mark.parametrize("configs", [("config.yaml",), ("config.yaml", "config/demo.yaml")], ids=["full", "demo"])
def test_every_planned_command_speaks_the_protocol(configs, monkeypatch, capsys):
    """Each shell command of the DAG parses with its command's own parser (stopped before any work): a rule that
    passes a role its command does not declare, or leaves out one it requires, fails here, not hours into a run."""
    commands = _planned_commands(*configs)
    assert len(commands) > 50
    monkeypatch.setenv(jobargs.CHECK_ONLY_ENV, "1")
    seen = set()
    for argv in commands:
        seen.add(" ".join(argv[:2]) if argv[0] in cli.PAPERS else argv[0])
        with pytest.raises(SystemExit) as stop:
            cli.main(argv)
        assert stop.value.code == 0, (argv, capsys.readouterr().err[-500:])
    assert {"download", "convert", "simulate", "overview", "scorecard", "erdiff experiment", "erdiff table1", "dcf train",
            "dcf tables", "metadyn train", "metadyn transfer", "metadyn figure"} <= seen
