"""`neurodyn convert` on the real recordings in ../shared/data, checked against numbers nlb_tools produced."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neurodyn.cli import main as cli
from neurodyn.config import ROOT, load
from neurodyn.data.convert import convert
from neurodyn.data.sources import SessionSources
from neurodyn.store import open_session

pytestmark = pytest.mark.shared_data
SMALL_TEST = "nlb-mc-maze-small-test/sub-Jenkins_ses-small_desc-test_ecephys.nwb"


def session_spec(name: str, **over) -> dict:
    spec = SessionSources(load(ROOT / "config.yaml")).convert_spec(name)
    spec.update(over)
    return spec


@pytest.fixture(scope="module")
def small(shared_data, tmp_path_factory):
    out = {}
    for bin_ms in (5, 20):
        path = tmp_path_factory.mktemp(f"small{bin_ms}") / "s.zarr"
        convert([shared_data / SMALL_TEST], session_spec("mc_maze_small_test", bin_ms=bin_ms), path)
        out[bin_ms] = open_session(path).load()
    return out


@pytest.mark.parametrize(("bin_ms", "n_bins"), [(5, 140), (20, 35)])
def test_mc_maze_small_test_matches_nlb_tools(small, bin_ms, n_bins):
    ds = small[bin_ms]
    heldin = ds.spikes.values[:, :, ~ds.heldout.values]
    assert heldin.shape == (100, n_bins, 107)
    assert not np.isnan(heldin).any()  # every window lies inside its trial's obs_interval
    assert heldin.sum() == 32897  # every spike of the file falls in a window (nlb_tools: 32,897)
    # The numbers below came from nlb_tools 0.0.4 (NWBDataset + resample + make_eval_input_tensors, split 'test')
    # on this very file, run in an isolated venv (benchmarks/nlb_reference.py): identical at 5 and 20 ms.
    per_trial_unit = heldin.sum(axis=1)
    assert [per_trial_unit[t, u] for t, u in [(0, 0), (17, 50), (99, 106), (42, 3)]] == [4, 6, 0, 1]
    assert [heldin[:, :, u].sum() for u in (0, 50, 66, 106)] == [142, 511, 370, 7]
    assert heldin.sum(axis=(1, 2))[[0, 1, 99]].tolist() == [390, 302, 392]
    if bin_ms == 5:
        assert heldin[0, 96, 66] == 2 and np.flatnonzero(heldin[0, :, 0]).tolist() == [12, 38, 53, 77]
        assert heldin.sum(axis=(0, 2))[[0, 1, 69, 139]].tolist() == [175, 213, 202, 163]
    else:
        assert heldin[44, 19, 40] == 4 and np.flatnonzero(heldin[0, :, 0]).tolist() == [3, 9, 13, 19]
        assert heldin.sum(axis=(0, 2))[[0, 1, 17, 34]].tolist() == [743, 774, 918, 751]


def test_mc_maze_small_test_store_contents(small):
    ds = small[5]
    assert ds.unit.values[[0, -1]].tolist() == [1011, 2861]
    assert set(ds.split.values) == {"test"} and set(ds.condition.values) == {"unknown"}
    assert ds.time.values[0] == -250 and ds.time.values[-1] == 445
    assert ds.spikes_forward.shape == (100, 40, 107)
    # the forward window (+450..650 ms) runs into the 100 ms gap between trials: unobserved there -> NaN
    assert np.isnan(ds.spikes_forward.values[:, :10]).all() and not np.isnan(ds.spikes_forward.values[:-1, 20:]).any()
    assert ds.attrs["source"]["sha256"].startswith("ca8a0bef") and "behaviour_note" in ds.attrs
    np.testing.assert_allclose(ds.window_start_s.values[:2] % 0.005, 0, atol=1e-9)


def test_truncated_real_file_is_rejected(shared_data, tmp_path, capsys):
    data = (shared_data / SMALL_TEST).read_bytes()
    cut = tmp_path / "cut.nwb"
    cut.write_bytes(data[: len(data) - 1000])
    out = tmp_path / "out" / "s.zarr"
    rc = cli(["convert", "--inputs", "source=" + str(cut), "--params", json.dumps(session_spec("mc_maze_small_test")), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "cut.nwb: expected a readable NWB (HDF5) file" in err
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


# -- a train-style file (held-out units, behaviour, forward) rebuilt from the real 1 ms MC_Maze excerpts ---------
@pytest.fixture(scope="module")
def nlb_like(shared_data, tmp_path_factory):
    sys.path.insert(0, str(Path(__file__).parent))
    from nlb_like import build

    path = tmp_path_factory.mktemp("nlb_like") / "nlb_like.nwb"
    build(shared_data, path)
    return path


def test_train_style_file_matches_nlb_tools(nlb_like, tmp_path):
    spec = session_spec("mc_maze_train")
    spec["provenance"] = {"file": "nlb_like.nwb (built by tests/integration/nlb_like.py, not the pinned asset)"}
    ds = open_session(convert([nlb_like], spec, tmp_path / "s.zarr")).load()
    held = ds.heldout.values
    assert held.sum() == 45 and (~held).sum() == 137
    tv = np.isin(ds.split.values, ["train", "val"])
    # totals from nlb_tools 0.0.4 make_train_input_tensors(['train','val'], include_forward_pred, include_behavior)
    # on this fixture (benchmarks/nlb_reference.py --dataset mc_maze --bin-ms 5: every entry identical)
    assert ds.spikes.values[tv][:, :, ~held].sum() == 1708 and ds.spikes.values[tv][:, :, held].sum() == 442
    assert ds.spikes_forward.values[tv][:, :, ~held].sum() == 466 and ds.spikes_forward.values[tv][:, :, held].sum() == 109
    assert ds.spikes.shape == (6, 140, 182)
    assert ds.condition.values[:3].tolist() == ["trial_type=0|trial_version=0", "trial_type=1|trial_version=1", "trial_type=2|trial_version=0"]
    for var in ("hand_pos", "hand_vel", "cursor_pos", "eye_pos", "hand_vel_lagged"):
        assert ds[var].shape == (6, 140, 2) and not np.isnan(ds[var].values).any()
    assert ds.attrs["behaviour_lag_ms"] == 100
    # the lagged target is the same signal 100 ms (20 bins) later
    np.testing.assert_allclose(ds.hand_vel_lagged.values[:, :-20], ds.hand_vel.values[:, 20:], rtol=1e-5, atol=1e-3)


@pytest.mark.skipif(not os.environ.get("NLB_PYTHON"), reason="set NLB_PYTHON to a venv with nlb-tools 0.0.4 to compare live")
@pytest.mark.parametrize("bin_ms", [5, 20])
def test_live_comparison_with_nlb_tools(shared_data, nlb_like, bin_ms):
    script = ROOT / "benchmarks" / "nlb_reference.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for path, dataset in ((shared_data / SMALL_TEST, "mc_maze_small"), (nlb_like, "mc_maze")):
        run = subprocess.run([sys.executable, str(script), "--input", str(path), "--dataset", dataset, "--bin-ms", str(bin_ms)],
                             capture_output=True, text=True, env=env)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "MISMATCH" not in run.stdout and '"match": true' in run.stdout


# -- bundled npz recordings -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "n_units"), [("erdiff_m1_source", 187), ("erdiff_m1_target", 172)])
def test_erdiff_sessions(shared_data, tmp_path, name, n_units):
    spec = session_spec(name)
    ds = open_session(convert([shared_data / spec["provenance"]["mirror_file"]], spec, tmp_path / "s.zarr")).load()
    raw = np.load(shared_data / spec["provenance"]["mirror_file"])
    assert ds.spikes.shape == (168, 14, n_units) and ds.erdiff_pos.shape == (168, 14, 2)
    np.testing.assert_array_equal(ds.spikes.values, raw["neural"].astype(np.float32))
    assert ds.attrs["spikes_are_counts"] is False and ds.attrs["bin_ms"] == 20
    assert ds.condition.values[:3].tolist() == ["direction=0", "direction=1", "direction=2"]
    for cond in np.unique(ds.condition.values):  # 21 trials per direction -> 15 / 2 / 4
        parts = ds.split.values[ds.condition.values == cond]
        assert [(parts == s).sum() for s in ("train", "val", "test")] == [15, 2, 4]
    assert ds.attrs["source"]["role"] == name.rsplit("_", 1)[-1]


def test_erdiff_sha256_mismatch_is_rejected(shared_data, tmp_path, capsys):
    spec = session_spec("erdiff_m1_source")
    spec["provenance"]["sha256"] = "0" * 64
    out = tmp_path / "s.zarr"
    rc = cli(["convert", "--inputs", "source=" + str(shared_data / spec["provenance"]["mirror_file"]), "--params", json.dumps(spec), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "source_session.npz: sha256: expected 0000" in err and "dbe74360" in err and not out.exists()


def test_erdiff_role_is_required(shared_data, tmp_path, capsys):
    spec = session_spec("erdiff_m1_target")
    spec["provenance"]["role"] = None
    rc = cli(["convert", "--inputs", "source=" + str(shared_data / spec["provenance"]["mirror_file"]), "--params", json.dumps(spec), "--out", str(tmp_path / "s.zarr")])
    assert rc == 2 and "provenance.role: expected source or target" in capsys.readouterr().err


def test_mc_maze_1ms_excerpts(shared_data, tmp_path):
    spec = session_spec("mc_maze_2trials_1ms")
    files = [shared_data / f for f in spec["provenance"]["mirror_file"]]
    ds = open_session(convert(files, spec, tmp_path / "s.zarr")).load()
    # 3,236 ms -> 4 windows of 700 ms from 2282.600 s; 3,566 ms -> 5 from 4122.800 s
    assert ds.spikes.shape == (9, 140, 182)
    raw = np.load(files[0])
    assert ds.spikes.values[:4].sum() == raw["spikes_1ms"][: 4 * 700].sum()
    np.testing.assert_array_equal(ds.spikes.values[0, 0], raw["spikes_1ms"][:5].sum(0))
    assert ds.window_start_s.values[[0, 4]].tolist() == [2282.6, 4122.8]
    for var in ("hand_vel", "hand_pos", "cursor_pos", "eye_pos"):
        assert ds[var].shape == (9, 140, 2) and not np.isnan(ds[var].values).any()
    # away from the excerpt edges the FIR-decimated velocity tracks the 1 ms samples closely
    np.testing.assert_allclose(ds.hand_pos.values[1, 60], raw["hand_pos"][700 + 300], atol=0.5)


def test_cli_convert_real_file(shared_data, tmp_path):
    out = tmp_path / "s.zarr"
    rc = cli(["convert", "--inputs", "source=" + str(shared_data / SMALL_TEST), "--params", json.dumps(session_spec("mc_maze_small_test")), "--out", str(out)])
    assert rc == 0 and open_session(out).sizes["trial"] == 100
    assert [p.name for p in tmp_path.iterdir()] == ["s.zarr"]
    shutil.rmtree(out)
