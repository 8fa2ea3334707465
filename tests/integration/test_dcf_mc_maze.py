"""The two full MC_Maze trials of the mirror, read into session stores and cut into DCF windows."""

from __future__ import annotations

import numpy as np
import pytest

from neurodyn.data.nlb_trial_npz import read
from neurodyn.models.dcf.data import prepare_neural

pytestmark = pytest.mark.shared_data


def test_two_trial_windows(shared_data):
    folder = shared_data / "nlb-mc-maze-2trials-1ms"
    stores = [read(folder / f"trial_{n}.npz", name=f"mc_maze_trial{n}", bin_ms=5) for n in (748, 1356)]
    assert stores[0].sizes["unit"] == 182 and stores[0].attrs["bin_ms"] == 5.0
    assert int(np.nansum(stores[0]["spikes"].values)) == 1654  # PROVENANCE.md: trial 748 has 1,654 spikes
    cfg = dict(behaviour="cursor_pos", held_in_only=True, smooth_ms=40, n_steps=100, window={"length_ms": 500, "stride_ms": 50},
               split={"test_fraction": 0.5, "test_trials": ["mc_maze_trial1356"], "seed": 0}, min_std_hz=1.0, n_directions=8,
               min_peak_speed=100)
    data = prepare_neural(stores, cfg)
    assert set(data.trial[data.test]) == {"mc_maze_trial1356:trial_1356"}
    assert len(data.train) >= 5 and len(data.test) >= 5
    assert np.abs(data.velocity).max(axis=(1, 2)).min() > 50  # every kept window contains a reach
    # smoothed rates average back to the raw spike rate (2-3 Hz in these files)
    assert 0.5 < data.rates.mean() < 10


def test_bad_npz_is_an_input_error(tmp_path):
    bad = tmp_path / "x.npz"
    np.savez(bad, timestamps_s=np.arange(3) * 0.001)
    with pytest.raises(Exception) as err:
        read(bad, name="x", bin_ms=5)
    assert "unit_ids" in str(err.value) or "spikes_1ms" in str(err.value)
