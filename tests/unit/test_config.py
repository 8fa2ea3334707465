"""config.yaml and its overlays are checked by the schema; a bad key fails with its dotted path."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from neurodyn import config as ndc
from neurodyn.errors import InputError
from tests.conftest import REPO

FULL = yaml.safe_load((REPO / "config.yaml").read_text())


def test_full_and_demo_configs_are_valid():
    full = ndc.load(REPO / "config.yaml")
    demo = ndc.load(REPO / "config.yaml", REPO / "config" / "demo.yaml")
    assert demo["offline"] is True and full["offline"] is False


@pytest.mark.parametrize(
    ("edit", "field", "expected"),
    [
        (lambda c: c["dandi"].update(retrys=3), "dandi.retrys", "one of the known keys"),
        (lambda c: c["dandi"].update(retries="x"), "dandi.retries", "expected integer"),
        (lambda c: c.update(sed=1), "sed", "one of the known keys"),
        (lambda c: c["datasets"]["mc_maze"]["assets"]["train"].update(sha256="abc"), "datasets.mc_maze.assets.train.sha256", "text matching"),
        (lambda c: c["sessions"]["mc_maze_train"].update(bin_ms=0), "sessions.mc_maze_train.bin_ms", "> 0"),
        (lambda c: c.pop("seed"), "seed", "present"),
    ],
)
def test_bad_key_names_its_path(edit, field, expected):
    bad = copy.deepcopy(FULL)
    edit(bad)
    with pytest.raises(InputError) as err:
        ndc.validate(bad, "config.yaml")
    assert err.value.field == field
    assert expected in err.value.line()
    assert "\n" not in err.value.line()


def test_references_are_checked():
    bad = copy.deepcopy(FULL)
    bad["sessions"]["mc_maze_train"]["source"]["dandi"]["dataset"] = "mc_mazee"
    with pytest.raises(InputError, match="sessions.mc_maze_train.source.dandi.dataset"):
        ndc.check_references(bad)


def test_merge_replaces_lists_and_merges_dicts():
    merged = ndc.merge({"a": {"b": 1, "c": [1, 2]}, "d": 1}, {"a": {"c": [3]}})
    assert merged == {"a": {"b": 1, "c": [3]}, "d": 1}


def test_cli_reports_one_line_and_exit_2(tmp_path):
    bad = copy.deepcopy(FULL)
    bad["device"] = "gpu"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(bad))
    proc = subprocess.run([sys.executable, "-m", "neurodyn", "config", "--configfile", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "device" in proc.stderr and str(path) in proc.stderr


def test_snakemake_refuses_a_mistyped_key(tmp_path):
    overlay = tmp_path / "typo.yaml"
    overlay.write_text("dandi: {timeout: 5}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(overlay)],
        cwd=REPO, capture_output=True, text=True,
    )
    assert proc.returncode != 0
    assert "dandi.timeout" in proc.stderr
