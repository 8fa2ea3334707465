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
        (lambda c: c["sessions"]["mc_maze_train"].update(bin_ms=0), "sessions.mc_maze_train.bin_ms", ">= 1"),
        (lambda c: c["sessions"]["mc_maze_train"].update(bin_ms=5.5), "sessions.mc_maze_train.bin_ms", "expected integer"),
        (lambda c: c["sessions"]["mc_maze_train"].update(bin_ms=5.0), "sessions.mc_maze_train.bin_ms", "expected integer"),
        (lambda c: c["erdiff"]["vae"].update(steps=10.0), "erdiff.vae.steps", "expected integer"),
        (lambda c: c["erdiff"]["vae"].update(lr=float("nan")), "erdiff.vae.lr", "a finite number"),
        (lambda c: c["dandi"].update(timeout_s=float("inf")), "dandi.timeout_s", "a finite number"),
        (lambda c: c["erdiff"]["robustness"].update(noise_scales=[1.0, float("-inf")]), "erdiff.robustness.noise_scales[1]", "a finite number"),
        (lambda c: c["dandi"].update(retries="3"), "dandi.retries", "--configfile overlay"),
        (lambda c: c["sessions"].update({"$(touch x)": c["sessions"]["mc_maze_train"]}), "sessions.$(touch x)", "a key name matching"),
        (lambda c: c["sessions"].update({"../escape": c["sessions"]["mc_maze_train"]}), "sessions.../escape", "a key name matching"),
        (lambda c: c["datasets"]["mc_maze"]["assets"]["train"].update(path="sub-Jenkins/$(touch x).nwb"), "datasets.mc_maze.assets.train.path", "text matching"),
        (lambda c: c["datasets"]["mc_maze"]["assets"]["train"].update(path="sub-Jenkins/../../x.nwb"), "datasets.mc_maze.assets.train.path", "text matching"),
        (lambda c: c["unpinned"]["000688"]["assets"].append("sub-C/a b.nwb"), "unpinned.000688.assets." + str(len(FULL["unpinned"]["000688"]["assets"])), "text matching"),
        (lambda c: c.pop("seed"), "seed", "present"),
        (lambda c: c["erdiff"]["method"]["erdiff"].update(refine_steps=-1), "erdiff.method.erdiff.refine_steps", ">= 0"),
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


def test_schema_patterns_are_the_package_patterns():
    """One pattern each for asset paths and names: the schema's copies must equal neurodyn.config's."""
    schema = ndc.load_schema()
    assert schema["$defs"]["asset_path"]["pattern"] == ndc.ASSET_PATH_PATTERN
    assert schema["$defs"]["name"]["pattern"] == ndc.NAME_PATTERN
    lock = ndc.load_schema(REPO / "workflow" / "schemas" / "lock.schema.yaml")
    assert lock["properties"]["assets"]["additionalProperties"]["properties"]["path"]["pattern"] == ndc.ASSET_PATH_PATTERN
    assert lock["properties"]["assets"]["propertyNames"]["pattern"] == "^[0-9]{6}/" + ndc.ASSET_PATH_PATTERN[1:]


@pytest.mark.parametrize("path", ["sub-Jenkins/sub-Jenkins_ses-small_desc-test_ecephys.nwb", "sub-C/sub-C_ses-20131022_behavior+ecephys.nwb"])
def test_real_asset_paths_pass(path):
    assert ndc.check_asset_path(path, "t", "f") == path


@pytest.mark.parametrize("path", ["sub-J/$(id).nwb", "sub-J/`id`.nwb", "sub-J/a;b.nwb", "sub-J/../../x.nwb", "../sub-J/x.nwb",
                                  "/sub-J/x.nwb", "sub-J/x.nwb\nrm", "sub-J/x y.nwb", "sub-J/x.NWB", "sub-J/d/x.nwb"])
def test_hostile_asset_paths_fail(path):
    with pytest.raises(InputError, match="letters, digits and _.+- only"):
        ndc.check_asset_path(path, "t", "f")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seed: 1\ndandi: {timeout_s: 5\n", "line 3, column 1: expected valid YAML"),
        ("seed: 1\nseed: 2\n", "line 2, column 1: expected each key once per mapping ('seed' is already set on line 1)"),
        ("dandi:\n  retries: 1\n  retries: 2\n", "line 3, column 3: expected each key once"),
        ("- a\n- b\n", "(top level): expected a mapping of config keys (got 'list')"),
        ("just text\n", "(top level): expected a mapping of config keys (got 'str')"),
        ("__use_yte__: true\nseed: ?1+1\n", "__use_yte__: expected plain YAML"),
    ],
)
def test_config_file_problems_are_one_line(tmp_path, text, expected):
    path = tmp_path / "overlay.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        ndc.read_config_file(path)
    assert err.value.line().startswith(f"{path}: ")
    assert expected in err.value.line()
    proc = subprocess.run([sys.executable, "-m", "neurodyn", "config", "--configfile", str(REPO / "config.yaml"),
                           "--configfile", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and expected in proc.stderr


def test_yaml_nan_and_inf_are_refused(tmp_path):
    path = tmp_path / "overlay.yaml"
    path.write_text("erdiff: {vae: {lr: .nan}}\n")
    with pytest.raises(InputError, match=r"erdiff.vae.lr: expected a finite number \(got nan\)"):
        ndc.load(REPO / "config.yaml", path)
    path.write_text("dandi: {backoff_s: -.inf}\n")
    with pytest.raises(InputError, match="dandi.backoff_s: expected a finite number"):
        ndc.load(REPO / "config.yaml", path)


def test_references_are_checked():
    bad = copy.deepcopy(FULL)
    bad["sessions"]["mc_maze_train"]["source"]["dandi"]["dataset"] = "mc_mazee"
    with pytest.raises(InputError, match="sessions.mc_maze_train.source.dandi.dataset"):
        ndc.check_references(bad)


def test_screening_must_come_before_the_alignment_ends():
    bad = copy.deepcopy(FULL)
    bad["erdiff"]["align"]["screen_steps"] = bad["erdiff"]["align"]["steps"]
    ndc.validate(bad, "config.yaml")  # each value alone is well-formed: the check is across keys
    with pytest.raises(InputError) as err:
        ndc.check_references(bad, "config.yaml")
    assert err.value.field == "erdiff.align.screen_steps"
    assert "fewer than erdiff.align.steps (300)" in err.value.line()


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


def test_config_seed_reaches_every_training_job():
    """`--config seed=N` changes the seed of every training job of the demo DAG (DCF once had a literal 0), and
    the same N plans the same seeds."""
    import re

    def seeds(base: int) -> dict[str, str]:
        # -F: plan every job even where the demo has already run in this checkout (README: demo, then tests)
        proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-F", "--printshellcmds", "--profile", "profiles/demo",
                               "--config", f"seed={base}"], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        out = {}
        for line in (proc.stdout + proc.stderr).splitlines():
            m = re.search(r"\bneurodyn (dcf train|dcf baseline|erdiff experiment|metadyn train|metadyn transfer) .*--seed (\d+) .*--out (\S+)", line)
            if m:
                out[m.group(3)] = m.group(2)
        return out

    zero, three = seeds(0), seeds(3)
    assert any("dcf" in run for run in zero) and any("erdiff" in run for run in zero) and any("metadyn" in run for run in zero)
    assert set(zero) == set(three)
    unchanged = sorted(run for run in zero if zero[run] == three[run])
    assert not unchanged, unchanged
    assert seeds(3) == three
