"""Bad inputs to `neurodyn convert`: one line (file: field: expected), exit 2, nothing left behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from neurodyn.cli import main as cli
from neurodyn.simulate.nwb_writer import write_nwb
from neurodyn.simulate.poisson_lds import simulate

PARAMS = {"n_units": 6, "n_trials": 8, "n_conditions": 2, "trial_ms": 300, "pre_ms": 100}


def spec(**over):
    s = {"name": "bad", "bin_ms": 10, "kind": "simulate", "format": "nwb", "window_ms": [-100, 200],
         "align_event": "onset_time", "provenance": {"simulator": "poisson-lds", "params": PARAMS, "seed": 1}}
    s.update(over)
    return s


@pytest.fixture(scope="module")
def good_nwb(tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "good.nwb"
    write_nwb(simulate(PARAMS, 1), path, seed=1, generator="poisson-lds")
    return path


def copy_of(good: Path, tmp_path: Path) -> Path:
    path = tmp_path / "in.nwb"
    shutil.copy(good, path)
    return path


def assert_rejected(capsys, tmp_path: Path, inp: Path, the_spec, *needles: str) -> str:
    out = tmp_path / "out" / "s.zarr"
    spec_text = the_spec if isinstance(the_spec, str) else json.dumps(the_spec)
    rc = cli(["convert", "--inputs", "source=" + str(inp), "--params", spec_text, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and err.startswith("neurodyn convert: error: "), err
    for needle in needles:
        assert needle in err, err
    leftovers = list(out.parent.iterdir()) if out.parent.exists() else []
    assert leftovers == [], leftovers  # no store, no temporary sibling
    return err


def test_good_file_converts(good_nwb, tmp_path):
    assert cli(["convert", "--inputs", "source=" + str(good_nwb), "--params", json.dumps(spec()), "--out", str(tmp_path / "s.zarr")]) == 0


def test_truncated_nwb(good_nwb, tmp_path, capsys):
    path = copy_of(good_nwb, tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert_rejected(capsys, tmp_path, path, spec(), str(path), "expected a readable NWB")


def test_not_hdf5(tmp_path, capsys):
    path = tmp_path / "junk.nwb"
    path.write_text("not an NWB file")
    assert_rejected(capsys, tmp_path, path, spec(), "expected a readable NWB (HDF5) file")


def test_missing_units_table(good_nwb, tmp_path, capsys):
    path = copy_of(good_nwb, tmp_path)
    with h5py.File(path, "a") as f:
        del f["units"]
    assert_rejected(capsys, tmp_path, path, spec(), ": units: expected a units table")


def test_missing_obs_intervals(good_nwb, tmp_path, capsys):
    path = copy_of(good_nwb, tmp_path)
    with h5py.File(path, "a") as f:
        del f["units/obs_intervals"], f["units/obs_intervals_index"]
    assert_rejected(capsys, tmp_path, path, spec(), "units/obs_intervals: expected", "nlb_tools requires")


def test_unknown_behaviour_field_names_the_existing_ones(good_nwb, tmp_path, capsys):
    nlb = {"align_event": "onset_time", "window_ms": [-100, 200], "behaviour": "finger_vel", "lag_ms": 0,
           "forward_ms": 0, "psth_conditions": []}
    assert_rejected(capsys, tmp_path, good_nwb, spec(nlb=nlb), "processing/behavior/finger_vel", "the file has: hand_vel")


def test_empty_trial_table(good_nwb, tmp_path, capsys):
    path = copy_of(good_nwb, tmp_path)
    with h5py.File(path, "a") as f:
        group = f["intervals/trials"]
        for name in list(group):
            old = group[name]
            attrs, dtype = dict(old.attrs), old.dtype
            del group[name]
            new = group.create_dataset(name, shape=(0,), dtype=dtype, maxshape=(None,))
            for key, value in attrs.items():
                if not isinstance(value, h5py.Reference):
                    new.attrs[key] = value
    assert_rejected(capsys, tmp_path, path, spec(), "intervals/trials: expected at least one trial")


def test_missing_alignment_column(good_nwb, tmp_path, capsys):
    assert_rejected(capsys, tmp_path, good_nwb, spec(align_event="go_cue_time"), "intervals/trials/go_cue_time", "onset_time")


@pytest.mark.parametrize(
    ("the_spec", "needles"),
    [
        ({k: v for k, v in spec().items() if k != "bin_ms"}, ("--params: bin_ms: expected this key",)),
        (spec(bin_size=5), ("--params: bin_size: expected one of the known keys",)),
        (spec(bin_ms=2.5), ("--params: bin_ms: expected a whole number",)),
        (spec(format="csv"), ("--params: format: expected one of",)),
        (spec(window_ms=[0, 95]), ("--params: window_ms: expected a length that is a whole number of 10 ms bins",)),
        ({k: v for k, v in spec().items() if k != "window_ms"}, ("--params: window_ms: expected a window",)),
        (spec(split={"train": 0.5}), ("--params: split: expected fractions",)),
        ("{not json", ("--params: expected a JSON object",)),
    ],
)
def test_wrong_or_missing_spec_key(good_nwb, tmp_path, capsys, the_spec, needles):
    assert_rejected(capsys, tmp_path, good_nwb, the_spec, *needles)


def test_window_outside_the_trial(good_nwb, tmp_path, capsys):
    err = assert_rejected(capsys, tmp_path, good_nwb, spec(window_ms=[5000, 5300]), "trial 0:", "to overlap the trial")
    assert "8 of 8 trials" in err


def test_window_before_session_start(good_nwb, tmp_path, capsys):
    # trial 0 starts at t = 0: a window reaching 50 ms before it starts before the session
    assert_rejected(capsys, tmp_path, good_nwb, spec(window_ms=[-150, 150]), "trial 0:", "start at t >= 0")


def test_missing_input_file(tmp_path, capsys):
    assert_rejected(capsys, tmp_path, tmp_path / "nope.nwb", spec(), "nope.nwb: expected an input file")


def test_failure_keeps_an_existing_store_untouched(good_nwb, tmp_path, capsys):
    out = tmp_path / "s.zarr"
    assert cli(["convert", "--inputs", "source=" + str(good_nwb), "--params", json.dumps(spec()), "--out", str(out)]) == 0
    before = sorted(p.name for p in out.rglob("*"))
    rc = cli(["convert", "--inputs", "source=" + str(good_nwb), "--params", json.dumps(spec(window_ms=[5000, 5300])), "--out", str(out)])
    assert rc == 2 and sorted(p.name for p in out.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    np.testing.assert_equal(True, out.exists())
