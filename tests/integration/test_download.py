"""`neurodyn download` and `neurodyn lock` against a loopback DANDI API serving the real MC_Maze_Small test file.

The server (tests/dandi_server.py) is built from the archive's own metadata (../shared/data/dandi-metadata) and
serves the real 689,312-byte NWB, so every digest checked here is the archive's. No test reaches the network.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil

import pytest
import yaml

from neurodyn import cli
from neurodyn.data.download import AssetSpec, DandiSettings, FetchError, VerifyError, fetch
from neurodyn.data.mirror import find_in_mirror
from neurodyn.data.sources import SessionSources
from neurodyn.errors import InputError
from tests.dandi_server import DandiLoopback, download_argv

pytestmark = pytest.mark.shared_data

DANDISET, VERSION = "000140", "0.220113.0408"
TEST_PATH = "sub-Jenkins/sub-Jenkins_ses-small_desc-test_ecephys.nwb"
TRAIN_PATH = "sub-Jenkins/sub-Jenkins_ses-small_desc-train_behavior+ecephys.nwb"
ASSET_ID = "544a660e-a173-46f3-985a-60fd67e6ae1f"
SIZE = 689_312
SHA256 = "ca8a0bef5f189eafb9db1961d617e065cb461360718fde1c16a538922a6fa5fe"
ETAG = "5a38a16b91d0fd1e71fd41dc03fbe372-1"
PINNED = AssetSpec(dandiset=DANDISET, version=VERSION, path=TEST_PATH, asset_id=ASSET_ID, size=SIZE, sha256=SHA256, etag=ETAG)


@pytest.fixture
def nwb(shared_data):
    return shared_data / "nlb-mc-maze-small-test" / "sub-Jenkins_ses-small_desc-test_ecephys.nwb"


@pytest.fixture
def server(shared_data, nwb):
    with DandiLoopback(shared_data / "dandi-metadata", {ASSET_ID: nwb}, published={DANDISET: VERSION}) as srv:
        yield srv


def _settings(api_url: str, **kw) -> DandiSettings:
    # small chunks so an interrupted transfer has written something to resume from; no real waiting
    return DandiSettings(**{"api_url": api_url, "timeout_s": 5.0, "retries": 3, "backoff_s": 0.01, "chunk_bytes": 65_536, **kw})


def _blob_requests(srv):
    return [r for r in srv.requests if r[0].startswith("/blobs/")]


def test_full_download_is_verified_and_lands_in_the_dandi_layout(server, tmp_path, nwb):
    out = tmp_path / "raw" / DANDISET / TEST_PATH
    log = io.StringIO()
    assert fetch(PINNED, out, _settings(server.api_url), log=log) == "dandi"
    assert out.read_bytes() == nwb.read_bytes()
    assert not out.with_name(out.name + ".part").exists()
    assert "sha256 and dandi-etag verified" in log.getvalue()
    # the official client resolved it: asset listing by path, then the asset's metadata, then the 302 to the blob
    paths = [p for p, _ in server.requests]
    assert f"/api/dandisets/{DANDISET}/versions/{VERSION}/assets/{ASSET_ID}/" in paths
    assert paths[-2:] == [f"/api/assets/{ASSET_ID}/download/", "/blobs/118/a0f/118a0fea-39e2-4e85-b01d-a72df466f266"]


def test_interrupted_transfer_resumes_with_range(server, tmp_path, nwb):
    server.drop_after = 300_000
    out = tmp_path / DANDISET / TEST_PATH
    log = io.StringIO()
    fetch(PINNED, out, _settings(server.api_url), log=log)
    assert out.read_bytes() == nwb.read_bytes()
    ranges = [r for _, r in _blob_requests(server)]
    assert ranges[0] is None and len(ranges) == 2
    resumed_at = int(ranges[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= 300_000 and resumed_at % 65_536 == 0  # whole chunks written before the drop
    assert "resuming" in log.getvalue()


def test_busy_archive_is_retried_with_back_off(server, tmp_path, nwb):
    server.busy_blobs = 2
    out = tmp_path / DANDISET / TEST_PATH
    log = io.StringIO()
    fetch(PINNED, out, _settings(server.api_url), log=log)
    assert out.read_bytes() == nwb.read_bytes()
    assert len(_blob_requests(server)) == 3 and log.getvalue().count("HTTP 503") == 2


def test_busy_archive_beyond_the_retries_is_one_line(server, tmp_path):
    server.busy_blobs = 5
    out = tmp_path / DANDISET / TEST_PATH
    with pytest.raises(FetchError) as err:
        fetch(PINNED, out, _settings(server.api_url, retries=2), log=io.StringIO())
    line = str(err.value)
    assert "\n" not in line and line.startswith(f"{DANDISET}/{VERSION}/{TEST_PATH}: download from {server.api_url}/assets/")
    assert "HTTP 503" in line and not out.exists()


def test_part_file_from_an_earlier_run_is_resumed(server, tmp_path, nwb):
    out = tmp_path / DANDISET / TEST_PATH
    out.parent.mkdir(parents=True)
    out.with_name(out.name + ".part").write_bytes(nwb.read_bytes()[:200_000])
    fetch(PINNED, out, _settings(server.api_url), log=io.StringIO())
    assert out.read_bytes() == nwb.read_bytes()
    assert [r for _, r in _blob_requests(server)] == ["bytes=200000-"]


def test_corrupted_byte_is_caught_and_nothing_is_left(server, tmp_path):
    server.corrupt_at = 123_456
    out = tmp_path / DANDISET / TEST_PATH
    with pytest.raises(VerifyError) as err:
        fetch(PINNED, out, _settings(server.api_url), log=io.StringIO())
    line = str(err.value)
    assert "\n" not in line and TEST_PATH in line and f"sha256 expected {SHA256}, got " in line
    assert not out.exists()
    assert not out.with_name(out.name + ".part").exists()  # a corrupt .part must not be resumed


def test_pin_that_disagrees_with_the_archive_is_an_input_error(server, tmp_path):
    wrong = dataclasses.replace(PINNED, sha256="0" * 64)
    out = tmp_path / DANDISET / TEST_PATH
    with pytest.raises(InputError) as err:
        fetch(wrong, out, _settings(server.api_url), log=io.StringIO())
    assert "sha256" in err.value.line() and SHA256 in err.value.line()
    assert not out.parent.exists() or not any(out.parent.iterdir())
    assert not _blob_requests(server)  # refused before a byte was transferred


def test_unpinned_asset_takes_its_digests_from_the_archive(server, tmp_path, nwb):
    spec = AssetSpec(dandiset=DANDISET, path=TEST_PATH)  # version: most recent published
    out = tmp_path / DANDISET / TEST_PATH
    log = io.StringIO()
    assert fetch(spec, out, _settings(server.api_url), log=log) == "dandi"
    assert out.read_bytes() == nwb.read_bytes()
    assert f"version {VERSION}" in log.getvalue() and SHA256 in log.getvalue()


def test_mirror_hit_skips_the_network(server, tmp_path, nwb, shared_data):
    out = tmp_path / DANDISET / TEST_PATH
    assert fetch(PINNED, out, _settings(server.api_url), mirror=str(shared_data), offline=True, log=io.StringIO()) == "mirror"
    assert out.read_bytes() == nwb.read_bytes() and not out.is_symlink()
    assert server.requests == []


def _bad_mirror(tmp_path, nwb):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    data = bytearray(nwb.read_bytes())
    data[500_000] ^= 0x01  # same name and size, one bit off
    (mirror / nwb.name).write_bytes(bytes(data))
    find_in_mirror.__globals__["_mirror_index"].cache_clear()
    return mirror


def test_bad_mirror_copy_online_falls_back_to_dandi(server, tmp_path, nwb):
    mirror = _bad_mirror(tmp_path, nwb)
    out = tmp_path / "raw" / DANDISET / TEST_PATH
    log = io.StringIO()
    assert fetch(PINNED, out, _settings(server.api_url), mirror=str(mirror), log=log) == "dandi"
    assert out.read_bytes() == nwb.read_bytes()
    warning = [line for line in log.getvalue().splitlines() if "warning" in line]
    assert len(warning) == 1 and str(mirror / nwb.name) in warning[0] and "fetching it from DANDI" in warning[0]


def test_bad_mirror_copy_offline_is_an_error(server, tmp_path, nwb):
    mirror = _bad_mirror(tmp_path, nwb)
    out = tmp_path / "raw" / DANDISET / TEST_PATH
    with pytest.raises(VerifyError) as err:
        fetch(PINNED, out, _settings(server.api_url), mirror=str(mirror), offline=True, log=io.StringIO())
    assert str(mirror / nwb.name) in str(err.value) and SHA256 in str(err.value)
    assert not out.exists() and not list(out.parent.glob(".*tmp*"))
    assert server.requests == []


def test_existing_verified_file_is_not_fetched_again(server, tmp_path, nwb):
    out = tmp_path / DANDISET / TEST_PATH
    out.parent.mkdir(parents=True)
    shutil.copyfile(nwb, out)
    assert fetch(PINNED, out, _settings(server.api_url), log=io.StringIO()) == "present"
    assert server.requests == []


# -- the command line -------------------------------------------------------------------------------------------
def _download_argv(spec: AssetSpec, api_url: str, out, *extra: str) -> list[str]:
    return download_argv(spec, api_url, out, *extra)


def test_cli_download(server, tmp_path, nwb):
    out = tmp_path / DANDISET / TEST_PATH
    assert cli.main(_download_argv(PINNED, server.api_url, out)) == 0
    assert out.read_bytes() == nwb.read_bytes()


def test_cli_asset_missing_from_the_archive_is_an_input_error(server, tmp_path, capsys):
    missing = AssetSpec(dandiset=DANDISET, version=VERSION, path="sub-Jenkins/sub-Jenkins_ses-nope.nwb")
    assert cli.main(_download_argv(missing, server.api_url, tmp_path / DANDISET / missing.path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"neurodyn download: error: {DANDISET}/{VERSION}/sub-Jenkins/sub-Jenkins_ses-nope.nwb: path:")


# -- lock -------------------------------------------------------------------------------------------------------
def test_lock_writes_what_the_archive_says_and_sources_read_it(server, tmp_path, shared_data):
    lock_file = tmp_path / "dandi.lock.yaml"
    unpinned = {DANDISET: {"version": None, "assets": [TEST_PATH, TRAIN_PATH]}}
    dandi = {"api_url": server.api_url, "raw_dir": str(tmp_path / "raw"), "lock_file": str(lock_file),
             "timeout_s": 5, "retries": 2, "backoff_s": 0.01, "chunk_bytes": 65536}
    argv = ["lock", "--params", json.dumps({"unpinned": unpinned, "dandi": dandi}), "--out", str(lock_file)]
    assert cli.main(argv) == 0
    locked = yaml.safe_load(lock_file.read_text())
    metadata = {a["path"]: a for a in json.loads((shared_data / "dandi-metadata" / DANDISET / "assets.json").read_text())}
    assert locked["dandisets"] == {DANDISET: {"version": VERSION}}
    for path in (TEST_PATH, TRAIN_PATH):
        entry, meta = locked["assets"][f"{DANDISET}/{path}"], metadata[path]
        assert entry == {"path": path, "version": VERSION, "asset_id": meta["asset_id"], "size": meta["size"],
                         "sha256": meta["metadata"]["digest"]["dandi:sha2-256"],
                         "etag": meta["metadata"]["digest"]["dandi:dandi-etag"]}
    # a session whose source is `locked` now downloads a pinned asset
    config = {"sessions": {"s": {"source": {"locked": {"dandiset": DANDISET, "path": TEST_PATH}}, "bin_ms": 20}},
              "datasets": {}, "dandi": dandi, "mirror": None, "unpinned": unpinned}
    spec = AssetSpec.from_mapping(SessionSources(config).asset_spec(DANDISET, TEST_PATH))
    assert spec == PINNED
    out = tmp_path / "raw" / DANDISET / TEST_PATH
    assert SessionSources(config).input_file("s") == str(out)
    assert fetch(spec, out, _settings(server.api_url), log=io.StringIO()) == "dandi"


def test_lock_pinned_to_a_version_that_does_not_exist_is_an_input_error(server, tmp_path, capsys):
    lock_file = tmp_path / "dandi.lock.yaml"
    unpinned = {DANDISET: {"version": "0.999999.9999", "assets": [TEST_PATH]}}
    dandi = {"api_url": server.api_url, "timeout_s": 5, "retries": 1, "backoff_s": 0.0, "chunk_bytes": 65536}
    argv = ["lock", "--params", json.dumps({"unpinned": unpinned, "dandi": dandi}), "--out", str(lock_file)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "0.999999.9999" in err[0]
    assert not lock_file.exists()


def test_loopback_server_paginates_like_the_archive_for_the_official_client(server):
    from neurodyn.data.download import open_client

    client = open_client(_settings(server.api_url), "test")
    dandiset = client.get_dandiset(DANDISET)  # no version: the most recent published one
    assert dandiset.version_id == VERSION
    assert [a.path for a in dandiset.get_assets_with_path_prefix("sub-Jenkins/")] == [TEST_PATH, TRAIN_PATH]
    assert any(p.endswith("/assets/") for p, _ in server.requests)
    assert dandiset.get_asset_by_path(TRAIN_PATH).get_raw_digest() == "142f6daa30d6c20d7e8e1976b65d45a8-1"
