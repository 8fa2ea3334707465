"""simulate -> NWB (nwb_writer) -> neurodyn convert -> session store: the known simulation comes back exactly."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from neurodyn.cli import main as cli
from neurodyn.data.convert import convert
from neurodyn.simulate.nwb_writer import write_nwb
from neurodyn.simulate.poisson_lds import simulate, simulate_arrays
from neurodyn.store import open_session

PARAMS = {"n_units": 12, "n_trials": 16, "n_conditions": 4, "trial_ms": 400, "pre_ms": 100}
SEED = 11


def sim_spec(**over):
    spec = {"name": "sim", "bin_ms": 10, "kind": "simulate", "format": "nwb", "window_ms": [-100, 300],
            "align_event": "onset_time", "provenance": {"simulator": "poisson-lds", "params": PARAMS, "seed": SEED}}
    spec.update(over)
    return spec


@pytest.fixture(scope="module")
def sim_nwb(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "sim.nwb"
    write_nwb(simulate(PARAMS, SEED), path, seed=SEED, generator="poisson-lds")
    return path


def test_roundtrip_recovers_counts_latents_behaviour_and_labels(sim_nwb, tmp_path):
    truth = simulate_arrays(PARAMS, SEED)
    ds = open_session(convert([sim_nwb], sim_spec(), tmp_path / "s.zarr")).load()
    assert ds.spikes.shape == truth["counts"].shape == (16, 40, 12)
    assert np.array_equal(ds.spikes.values, truth["counts"])  # exact, no NaN: trials are observed end to end
    np.testing.assert_allclose(ds.latents.values, truth["latents"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ds.hand_vel.values, truth["hand_vel"], rtol=1e-6, atol=1e-5)
    assert ds.condition.values.tolist() == truth["condition"].tolist()
    assert ds.split.values.tolist() == truth["split"].tolist()
    assert ds.heldout.values.tolist() == truth["heldout"].tolist()
    assert ds.time.values.tolist() == list(range(-100, 300, 10))
    src = ds.attrs["source"]
    assert src["simulator"] == "poisson-lds" and src["seed"] == SEED and src["params"]["n_units"] == 12
    np.testing.assert_allclose(np.asarray(src["recording_attrs"]["A"]), truth["A"])


def test_roundtrip_at_a_coarser_bin_sums_counts_and_subsamples_latents(sim_nwb, tmp_path):
    truth = simulate_arrays(PARAMS, SEED)
    ds = open_session(convert([sim_nwb], sim_spec(bin_ms=20), tmp_path / "s.zarr")).load()
    assert np.array_equal(ds.spikes.values, truth["counts"].reshape(16, 20, 2, 12).sum(2))
    np.testing.assert_allclose(ds.latents.values, truth["latents"][:, ::2], rtol=1e-6, atol=1e-6)


def test_simulate_and_convert_through_the_cli(tmp_path, capsys):
    nwb = tmp_path / "cli.nwb"
    rc = cli(["simulate", "poisson-lds", "--params", json.dumps(PARAMS), "--seed", str(SEED), "--name", "cli", "--out", str(nwb)])
    assert rc == 0 and nwb.exists()
    with h5py.File(nwb) as f:  # the NLB layout
        assert {"spike_times", "obs_intervals", "heldout"} <= set(f["units"])
        assert f["processing/behavior/hand_vel"].attrs["comments"] == "columns=[x,y]"
        assert "latents" in f["processing/ground_truth"]
        notes = json.loads(f["general/notes"][()])["neurodyn_simulation"]
        assert notes["generator"] == "poisson-lds" and notes["seed"] == SEED
    out = tmp_path / "cli.zarr"
    assert cli(["convert", "--inputs", "source=" + str(nwb), "--params", json.dumps(sim_spec()), "--out", str(out)]) == 0
    assert np.array_equal(open_session(out).spikes.values, simulate_arrays(PARAMS, SEED)["counts"])
