"""Malformed NWB content is one InputError line each (file, field, expected), exit 2, and no store at all.

Each case takes a valid simulated NWB file and breaks one thing with h5py, as a damaged or hand-made file would.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from neurodyn.cli import main as cli
from neurodyn.data.convert import convert
from neurodyn.simulate.nwb_writer import write_nwb
from neurodyn.simulate.poisson_lds import simulate
from neurodyn.store import open_session
from tests.unit.test_convert_bad_inputs import PARAMS, assert_rejected, copy_of, spec


@pytest.fixture(scope="module")
def good_nwb(tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "good.nwb"
    write_nwb(simulate(PARAMS, 1), path, seed=1, generator="poisson-lds")
    return path


def _replace(f: h5py.File, name: str, values) -> None:
    attrs = {k: v for k, v in f[name].attrs.items() if not isinstance(v, h5py.Reference)}
    del f[name]
    f.create_dataset(name, data=values)
    for key, value in attrs.items():
        f[name].attrs[key] = value


def _behaviour(f: h5py.File) -> str:
    return "processing/behavior/" + sorted(f["processing/behavior"])[0]


def _nan_spike(f):
    f["units/spike_times"][3] = np.nan


def _inf_spike(f):
    f["units/spike_times"][0] = np.inf


def _equal_interval(f):
    start = f["units/obs_intervals"][0, 0]
    f["units/obs_intervals"][0] = [start, start]


def _nan_interval(f):
    f["units/obs_intervals"][1, 1] = np.nan


def _dup_unit(f):
    ids = f["units/id"][()]
    ids[1] = ids[0]
    f["units/id"][:] = ids


def _float_unit(f):
    _replace(f, "units/id", np.arange(len(f["units/id"])) + 0.5)


def _text_unit(f):
    _replace(f, "units/id", np.array([f"u{i}".encode() for i in range(len(f["units/id"]))]))


def _dup_trial(f):
    ids = f["intervals/trials/id"][()]
    ids[2] = ids[1]
    f["intervals/trials/id"][:] = ids


def _bad_index(f):
    index = f["units/spike_times_index"][()]
    index[-1] -= 1
    f["units/spike_times_index"][:] = index


def _short_heldout(f):
    _replace(f, "units/heldout", np.zeros(len(f["units/id"]) - 1, bool))


def _nan_start(f):
    f["intervals/trials/start_time"][2] = np.nan


def _backwards_trial(f):
    start = f["intervals/trials/start_time"][4]
    f["intervals/trials/stop_time"][4] = start - 0.01


def _short_behaviour(f):
    name = _behaviour(f)
    data = f[f"{name}/data"][()]
    if "timestamps" not in f[name]:
        f[name].create_dataset("timestamps", data=np.arange(len(data)) / 1000.0)
        del f[f"{name}/starting_time"]
    _replace(f, f"{name}/data", data[:-5])


def _text_behaviour(f):
    name = _behaviour(f)
    n = f[f"{name}/data"].shape[0]
    _replace(f, f"{name}/data", np.array([b"x"] * n))


MALFORMED = [
    (_nan_spike, ("units/spike_times (unit", "expected finite spike times", "1 NaN or infinite")),
    (_inf_spike, ("units/spike_times (unit", "expected finite spike times")),
    (_equal_interval, ("units/obs_intervals (unit", "with start < stop")),
    (_nan_interval, ("units/obs_intervals (unit", "finite [start, stop]")),
    (_dup_unit, ("units/id: expected each unit id once",)),
    (_float_unit, ("units/id: expected integer unit ids (got 0.5)",)),
    (_text_unit, ("units/id: expected integer unit ids",)),
    (_dup_trial, ("intervals/trials/id: expected each trial id once",)),
    (_bad_index, ("units/spike_times_index: expected",)),
    (_short_heldout, ("units/heldout: expected", "one per unit")),
    (_nan_start, ("intervals/trials/start_time (trial 2): expected a finite time",)),
    (_backwards_trial, ("intervals/trials (trial 4): expected stop_time >= start_time",)),
    (_short_behaviour, ("/timestamps: expected one timestamp per sample of data",)),
    (_text_behaviour, ("/data: expected numeric samples",)),
]


@pytest.mark.parametrize(("breaks", "needles"), MALFORMED, ids=[m[0].__name__.strip("_") for m in MALFORMED])
def test_malformed_content_is_one_line(good_nwb, tmp_path, capsys, breaks, needles):
    path = copy_of(good_nwb, tmp_path)
    with h5py.File(path, "a") as f:
        breaks(f)
    assert_rejected(capsys, tmp_path, path, spec(), str(path), *needles)


def test_spikes_outside_obs_intervals_are_dropped_and_counted(good_nwb, tmp_path):
    """nlb_tools' semantics (a spike in an unobserved millisecond is not counted), made visible in attrs."""
    full = open_session(convert([good_nwb], spec(), tmp_path / "full.zarr")).load()
    assert full.attrs["spikes_dropped"]["outside_obs_intervals"] == 0
    path = copy_of(good_nwb, tmp_path)
    with h5py.File(path, "a") as f:
        obs, index = f["units/obs_intervals"][()], f["units/obs_intervals_index"][()]
        unit0 = obs[: index[0]]
        t = f["units/spike_times"][: f["units/spike_times_index"][0]]
        # unit 0 observed only in the first half of its first interval: what falls after it is dropped
        cut = unit0[0, 0] + (unit0[0, 1] - unit0[0, 0]) / 2
        ms = np.round(t * 1000, 6).astype(np.int64)
        lo, hi = np.ceil(np.round(unit0[0, 0] * 1000, 6)), np.floor(np.round(cut * 1000, 6))
        expected = int(np.sum(~((ms >= lo) & (ms < hi))))
        obs[0] = [unit0[0, 0], cut]
        obs[1 : index[0]] = obs[0]  # its other intervals collapse onto the first one
        f["units/obs_intervals"][:] = obs
    ds = open_session(convert([path], spec(), tmp_path / "cut.zarr")).load()
    assert expected > 0
    assert ds.attrs["spikes_dropped"]["outside_obs_intervals"] == expected
    assert "obs_intervals" in ds.attrs["spikes_dropped"]["why"]
    assert ds.attrs["n_spikes_in_file"] == full.attrs["n_spikes_in_file"]


def test_pinned_asset_changed_after_download_is_refused(good_nwb, tmp_path, capsys):
    from neurodyn.data.convert import sha256_file

    digest, size = sha256_file(good_nwb), good_nwb.stat().st_size
    pinned = spec(kind="dandi", provenance={"dandiset": "000140", "path": "sub-X/x.nwb", "size": size, "sha256": digest})
    out = tmp_path / "ok.zarr"
    assert cli(["convert", "--inputs", "source=" + str(good_nwb), "--params", json.dumps(pinned), "--out", str(out)]) == 0
    capsys.readouterr()
    source = open_session(out).attrs["source"]
    assert source["read"] == [{"file": good_nwb.name, "size": size, "sha256": digest}]
    assert len(open_session(out).attrs["fingerprint"]) == 64
    changed = copy_of(good_nwb, tmp_path)
    with h5py.File(changed, "a") as f:
        f["units/spike_times"][0] += 1e-3  # same size, other bytes
    assert changed.stat().st_size == size
    assert_rejected(capsys, tmp_path, changed, pinned, "sha256: expected " + digest, "changed after download")
    grown = copy_of(good_nwb, tmp_path)
    with open(grown, "ab") as fh:
        fh.write(b"\0" * 16)
    assert_rejected(capsys, tmp_path, grown, pinned, f"size: expected {size} bytes")
