"""A config or lock file is data: nothing in it runs, and no path in it leads outside where it belongs.

Each case is planned by Snakemake itself (the Snakefile's checks), and must stop before any job, with one line
naming the key, and without the command hidden in it having run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from neurodyn.data.lock import read_lock
from neurodyn.data.sources import SessionSources
from neurodyn import config as ndc
from neurodyn.errors import InputError
from tests.conftest import REPO

TEST_PATH = "sub-Jenkins/sub-Jenkins_ses-small_desc-test_ecephys.nwb"
GOOD_ENTRY = {"path": "sub-C/sub-C_ses-CO-20131022_behavior+ecephys.nwb", "version": "0.250122.1735",
              "asset_id": "00000000-0000-0000-0000-000000000000", "size": 10, "sha256": "0" * 64, "etag": "0" * 32 + "-1"}


def _lock(assets: dict) -> dict:
    return {"api_url": "https://api.dandiarchive.org/api", "locked_at": "2026-12-01T00:00:00+00:00",
            "dandisets": {"000688": {"version": "0.250122.1735"}}, "assets": assets}


def _snakemake(tmp_path: Path, overlay: dict, *args: str, dry: bool = True) -> subprocess.CompletedProcess:
    path = tmp_path / "overlay.yaml"
    path.write_text(yaml.safe_dump(overlay))
    cmd = [sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", str(path), *args]
    return subprocess.run(cmd + (["-n"] if dry else []), cwd=REPO, capture_output=True, text=True, timeout=120)


def _refused(proc: subprocess.CompletedProcess, *fields: str) -> str:
    assert proc.returncode != 0, proc.stdout[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("neurodyn: config error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    for field in fields:
        assert field in errors[0], errors[0]
    assert "Traceback" not in proc.stderr
    return errors[0]


HOSTILE = ["sub-Jenkins/$(touch {canary}).nwb", "sub-Jenkins/`touch {canary}`.nwb", "sub-Jenkins/x.nwb; touch {canary}",
           "sub-Jenkins/../../../../tmp/x.nwb"]


@pytest.mark.parametrize("template", HOSTILE)
def test_asset_path_with_a_command_or_dotdot_stops_snakemake(tmp_path, template):
    canary = tmp_path / "PWNED"
    overlay = {"datasets": {"mc_maze_small": {"assets": {"test": {"path": template.format(canary=canary)}}}}}
    _refused(_snakemake(tmp_path, overlay, dry=False), "datasets.mc_maze_small.assets.test.path")
    assert not canary.exists()


def test_session_name_with_a_command_stops_snakemake(tmp_path):
    canary = tmp_path / "PWNED"
    bad = f"x$(touch {canary})"
    overlay = {"sessions": {bad: {"source": {"dandi": {"dataset": "mc_maze_small", "asset": "test"}}, "nlb": "mc_maze_small", "bin_ms": 5}}}
    _refused(_snakemake(tmp_path, overlay, dry=False), "sessions.", "a key name matching")
    assert not canary.exists()


def test_mirror_file_outside_the_mirror_stops_snakemake(tmp_path):
    overlay = {"mirror": str(tmp_path), "sessions": {"escape": {
        "source": {"mirror": {"file": "../../etc/passwd", "sha256": "0" * 64, "format": "erdiff_npz", "role": "source"}},
        "bin_ms": 20}}}
    _refused(_snakemake(tmp_path, overlay), "sessions.escape.source.mirror.file", "a path inside")


@pytest.mark.parametrize(
    ("assets", "field"),
    [
        ({f"000688/sub-C/$(touch CANARY).nwb": {**GOOD_ENTRY, "path": "sub-C/$(touch CANARY).nwb"}}, "assets"),
        ({"000688/sub-C/sub-C_ses-CO-20131022_behavior+ecephys.nwb": {**GOOD_ENTRY, "path": "sub-C/other.nwb"}},
         "assets.000688/sub-C/sub-C_ses-CO-20131022_behavior+ecephys.nwb.path"),
        ({"000688/sub-C/sub-C_ses-CO-20131022_behavior+ecephys.nwb": {**GOOD_ENTRY, "size": "10"}},
         "assets.000688/sub-C/sub-C_ses-CO-20131022_behavior+ecephys.nwb.size"),
        ({"000688/sub-C/sub-C_ses-CO-20131022_behavior+ecephys.nwb": {**GOOD_ENTRY, "command": "id"}},
         "assets.000688/sub-C/sub-C_ses-CO-20131022_behavior+ecephys.nwb.command"),
    ],
)
def test_bad_lock_file_stops_snakemake(tmp_path, assets, field):
    lock = tmp_path / "dandi.lock.yaml"
    lock.write_text(yaml.safe_dump(_lock(assets)))
    line = _refused(_snakemake(tmp_path, {"dandi": {"lock_file": str(lock)}}), str(lock), field)
    assert not (REPO / "CANARY").exists(), line


def test_lock_file_duplicate_key_and_syntax(tmp_path):
    lock = tmp_path / "dandi.lock.yaml"
    lock.write_text("api_url: https://x\napi_url: https://y\n")
    with pytest.raises(InputError, match="line 2, column 1: expected each key once"):
        read_lock(lock)
    lock.write_text("assets: {a: [\n")
    with pytest.raises(InputError, match=r"line \d+, column \d+: expected valid YAML"):
        read_lock(lock)


def test_good_lock_file_is_read(tmp_path):
    lock = tmp_path / "dandi.lock.yaml"
    key = "000688/" + GOOD_ENTRY["path"]
    lock.write_text(yaml.safe_dump(_lock({key: GOOD_ENTRY})))
    config = ndc.load(REPO / "config.yaml")
    config["dandi"]["lock_file"] = str(lock)
    sources = SessionSources(config)
    assert sources.asset_spec("000688", GOOD_ENTRY["path"])["sha256"] == "0" * 64


def test_download_path_stays_under_raw_dir(tmp_path):
    from neurodyn.data.download import AssetSpec, check_out_path
    from neurodyn.data.paths import contained_raw_path

    raw = tmp_path / "raw"
    spec = AssetSpec(dandiset="000140", path=TEST_PATH)
    check_out_path(raw / "000140" / TEST_PATH, spec, str(raw))
    with pytest.raises(InputError, match="--out: expected the asset's place under dandi.raw_dir"):
        check_out_path(tmp_path / "elsewhere.nwb", spec, str(raw))
    with pytest.raises(InputError, match="letters, digits"):
        check_out_path(raw / "000140" / "x.nwb", AssetSpec(dandiset="000140", path="sub-J/../../../x.nwb"), str(raw))
    with pytest.raises(InputError, match="6-digit"):
        contained_raw_path(raw, "../000", TEST_PATH)


def test_every_shell_placeholder_is_quoted():
    """Each value a rule puts into a shell command is quoted by Snakemake (``:q``); only ``{threads}`` (an int
    Snakemake computes) may stand bare."""
    bare = []
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = path.read_text()
        for block in re.findall(r"shell:\n((?:\s+[\"'].*\n)+)", text):
            for field in re.findall(r"\{([^{}]+)\}", block):
                if not field.endswith(":q") and field != "threads":
                    bare.append(f"{path.name}: {{{field}}}")
    assert not bare, bare
