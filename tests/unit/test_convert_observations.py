"""A simulated recording with continuous observations only (no units) converts into a store without units."""

from __future__ import annotations

import json

import numpy as np

from neurodyn.data.convert import convert
from neurodyn.simulate.base import SimulatedRecording
from neurodyn.simulate.nwb_writer import write_nwb
from neurodyn.store import open_session


def test_observations_only_round_trip(tmp_path):
    rate, n_trials, n_samples = 50.0, 3, 20  # 20 ms samples, 400 ms trials
    t = np.arange(n_trials * n_samples) / rate
    latents = np.stack([np.cos(t), np.sin(t)], axis=1)
    obs = latents @ np.array([[1.0, 0.5, -1.0], [0.0, 2.0, 1.0]])
    starts = np.arange(n_trials) * n_samples / rate
    recording = SimulatedRecording(
        name="obs", rate_hz=rate, observations=obs, latents=latents,
        trials={"start_time": starts, "stop_time": starts + n_samples / rate, "split": np.array(["train", "train", "test"]),
                "condition": np.array(["a", "b", "a"])},
    )
    nwb = write_nwb(recording, tmp_path / "obs.nwb", seed=0, generator="toy")
    spec = {"name": "obs", "bin_ms": 20, "kind": "simulate", "format": "nwb", "align_event": "start_time",
            "window_ms": [0, 400], "provenance": {"simulator": "toy", "params": {}, "seed": 0}}
    convert([nwb], json.dumps(spec), tmp_path / "obs.zarr")
    ds = open_session(tmp_path / "obs.zarr")
    assert ds.sizes["unit"] == 0 and ds["observations"].shape == (3, 20, 3)
    np.testing.assert_allclose(ds["observations"].values.reshape(-1, 3), obs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ds["latents"].values.reshape(-1, 2), latents, rtol=1e-5, atol=1e-5)
    assert list(ds["split"].values) == ["train", "train", "test"]
