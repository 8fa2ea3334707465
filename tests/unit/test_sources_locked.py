"""The full plan covers every NLB asset and the locked (unpinned) dandisets; the lock file pins them; bad
references to unpinned assets fail with their dotted path."""

from __future__ import annotations

import copy

import pytest
import yaml

from neurodyn import config as ndc
from neurodyn.data.sources import SessionSources
from neurodyn.errors import InputError
from tests.conftest import REPO

FULL = ndc.load(REPO / "config.yaml")


def test_full_plan_covers_all_fourteen_nlb_assets_and_the_locked_sessions():
    sources = SessionSources(FULL)
    planned = {sources.input_file(s) for s in FULL["overview"]["sessions"]}
    raw = FULL["dandi"]["raw_dir"]
    nlb = {f"{raw}/{d['dandiset']}/{a['path']}" for d in FULL["datasets"].values() for a in d["assets"].values()}
    assert len(nlb) == 14 and nlb <= planned
    locked = {f"{raw}/{dandiset}/{path}" for dandiset, entry in FULL["unpinned"].items() for path in entry["assets"]}
    assert locked <= planned
    subjects = {path.split("/")[0] for path in FULL["unpinned"]["000688"]["assets"]}
    assert subjects == {"sub-C", "sub-M", "sub-J", "sub-T"}


def test_demo_plans_no_locked_session():
    demo = ndc.load(REPO / "config.yaml", REPO / "config" / "demo.yaml")
    assert all(SessionSources(demo).kind(s) != "locked" for s in demo["overview"]["sessions"])


def test_without_a_lock_file_a_locked_asset_is_resolved_at_download_time(tmp_path):
    config = copy.deepcopy(FULL)
    config["dandi"]["lock_file"] = str(tmp_path / "absent.lock.yaml")
    sources = SessionSources(config)
    spec = sources.asset_spec("000688", "sub-C/sub-C_ses-CO-20131022_behavior+ecephys.nwb")
    assert spec == {"dandiset": "000688", "version": None, "path": "sub-C/sub-C_ses-CO-20131022_behavior+ecephys.nwb"}
    offline = dict(config, offline=True, mirror=str(tmp_path))
    assert "not locked" in SessionSources(offline).unavailable_reason("co_c_20131022")


def test_the_lock_file_pins_a_locked_asset(tmp_path):
    path = "sub-C/sub-C_ses-CO-20131022_behavior+ecephys.nwb"
    entry = {"path": path, "version": "0.250122.1735", "asset_id": "1467e015-d227-474a-b800-47bf150d1584",
             "size": 27473024, "sha256": "9b0887aedc936c66b99909433af3d8dea739d5eaad1a5c1960400ba6d3a6dc86",
             "etag": "ba5b6a64c315931466ab6c7fdea20bf6-1"}
    lock_file = tmp_path / "dandi.lock.yaml"
    lock_file.write_text(yaml.safe_dump({"api_url": "https://api.dandiarchive.org/api", "locked_at": "2026-01-01T00:00:00+00:00",
                                         "dandisets": {"000688": {"version": "0.250122.1735"}}, "assets": {f"000688/{path}": entry}}))
    config = copy.deepcopy(FULL)
    config["dandi"]["lock_file"] = str(lock_file)
    assert SessionSources(config).asset_spec("000688", path) == {"dandiset": "000688", **entry}
    assert SessionSources(config).convert_spec("co_c_20131022")["provenance"]["sha256"] == entry["sha256"]


def test_locked_session_must_name_an_unpinned_asset():
    bad = copy.deepcopy(FULL)
    bad["sessions"]["co_c_20131022"]["source"]["locked"]["path"] = "sub-C/sub-C_ses-CO-29991231_behavior+ecephys.nwb"
    with pytest.raises(InputError) as err:
        ndc.check_references(bad, "config.yaml")
    assert "sessions.co_c_20131022.source.locked.path" in err.value.line()
    assert "unpinned.000688.assets" in err.value.line()


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda u: u.update({"688": u.pop("000688")}), "unpinned"),
        (lambda u: u["000688"].update(versoin="draft"), "unpinned.000688.versoin"),
        (lambda u: u["000070"].update(version="latest"), "unpinned.000070.version"),
        (lambda u: u["000070"].update(assets=[]), "unpinned.000070.assets"),
    ],
)
def test_bad_unpinned_section_names_its_path(edit, field):
    bad = copy.deepcopy(FULL)
    edit(bad["unpinned"])
    with pytest.raises(InputError) as err:
        ndc.validate(bad, "config.yaml")
    assert err.value.line().startswith(f"config.yaml: {field}")
