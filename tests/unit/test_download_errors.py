"""`neurodyn download` / `neurodyn lock` without an archive: offline, unreachable and bad input each give one line."""

from __future__ import annotations

import io
import json

import pytest

from neurodyn import cli
from neurodyn.data.download import AssetSpec, DandiSettings, FetchError, fetch
from tests.dandi_server import closed_port_url, download_argv

PATH = "sub-Jenkins/sub-Jenkins_ses-small_desc-test_ecephys.nwb"
PINNED = AssetSpec(dandiset="000140", version="0.220113.0408", path=PATH, asset_id="544a660e-a173-46f3-985a-60fd67e6ae1f",
                   size=689_312, sha256="ca8a0bef5f189eafb9db1961d617e065cb461360718fde1c16a538922a6fa5fe",
                   etag="5a38a16b91d0fd1e71fd41dc03fbe372-1")
API = "https://api.dandiarchive.org/api"


def test_offline_without_a_mirror_copy_names_the_asset_and_url(tmp_path):
    with pytest.raises(FetchError) as err:
        fetch(PINNED, tmp_path / "x.nwb", DandiSettings(api_url=API), offline=True, log=io.StringIO())
    line = str(err.value)
    assert "\n" not in line and line.startswith(f"000140/0.220113.0408/{PATH}: offline")
    assert f"{API}/assets/{PINNED.asset_id}/download/" in line


def test_offline_and_not_locked_says_to_lock_first(tmp_path):
    unlocked = AssetSpec(dandiset="000688", path="sub-C/sub-C_ses-CO-20131022_behavior+ecephys.nwb")
    with pytest.raises(FetchError) as err:
        fetch(unlocked, tmp_path / "x.nwb", DandiSettings(api_url=API), offline=True, log=io.StringIO())
    assert "not locked" in str(err.value) and "neurodyn lock" in str(err.value) and API in str(err.value)


def test_cli_unreachable_api_is_one_line_naming_asset_and_url(tmp_path, capsys):
    locked = AssetSpec(dandiset="000688", version="draft", path="sub-C/sub-C_ses-CO-20131003_behavior+ecephys.nwb")
    api = closed_port_url()
    out = tmp_path / "000688" / locked.path
    assert cli.main(download_argv(locked, api, out)) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1, errors
    assert errors[0].startswith("neurodyn download: error: 000688/draft/sub-C/sub-C_ses-CO-20131003_behavior+ecephys.nwb: ")
    assert f"{api}/info/" in errors[0] and "Connection refused" in errors[0]
    assert not out.exists() and not out.with_name(out.name + ".part").exists()


@pytest.mark.parametrize(
    ("asset", "dandi", "expected"),
    [
        ("{not json", "{}", "--params: expected a JSON object"),
        ('"a.nwb"', "{}", "--params: asset: expected a JSON object"),
        ('{"dandiset": "000140"}', "{}", "--params asset: path: expected a non-empty string"),
        ('{"dandiset": "000140", "path": "a.nwb", "size": "big"}', "{}", "--params asset: size: expected a byte count"),
        ('{"dandiset": "000140", "path": "a.nwb"}', '{"retries": 0}', "--params dandi: retries: expected at least 1"),
        ('{"dandiset": "000140", "path": "a.nwb"}', '{"timeout_s": "slow"}', "--params dandi: timeout_s: expected a number"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, asset, dandi, expected):
    out = tmp_path / "x.nwb"
    params = '{"asset": %s, "dandi": %s}' % (asset, dandi)  # one JSON text, as the rule writes it (may be broken on purpose)
    assert cli.main(["download", "--params", params, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"neurodyn download: error: {expected}"), err
    assert not out.exists()


def test_lock_offline_keeps_the_old_lock_file(tmp_path, capsys):
    lock_file = tmp_path / "dandi.lock.yaml"
    lock_file.write_text("assets: {}\n")
    dandi = {"api_url": closed_port_url(), "timeout_s": 2, "retries": 2, "backoff_s": 0.01, "chunk_bytes": 65536}
    argv = ["lock", "--params", json.dumps({"unpinned": {"000070": {"version": None, "assets": ["sub-Jenkins/x.nwb"]}}, "dandi": dandi}),
            "--out", str(lock_file)]
    assert cli.main(argv) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and dandi["api_url"] in errors[0]
    assert lock_file.read_text() == "assets: {}\n"


def test_lock_bad_unpinned_is_an_input_error(tmp_path, capsys):
    argv = ["lock", "--params", json.dumps({"unpinned": {"688": {"assets": ["sub-C/x.nwb"]}}, "dandi": {}}),
            "--out", str(tmp_path / "l.yaml")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "688" in err[0] and "6-digit" in err[0]
