"""The two full MC_Maze trials of the mirror, read into session stores and cut into DCF windows."""

from __future__ import annotations

import numpy as np
import pytest

from neurodyn.data.convert import convert_nlb_1ms_npz
from neurodyn.models.dcf.data import prepare_neural

pytestmark = pytest.mark.shared_data

SHA = {748: "3782f0aab01d2d847b1edf696910fc2353a90c058649f6509570050e57d9599e",
       1356: "edd2a7bd3e3d4f31b6f9505871c53468f8cab3ce1b1af5859ac917aab72179db"}


def _store(folder, n):
    """As config/demo.yaml converts them: one 3.2 s segment per full trial (mirror format nlb_1ms_npz)."""
    spec = {"name": f"mc_maze_trial{n}", "bin_ms": 5, "kind": "mirror", "format": "nlb_1ms_npz", "window_ms": [0, 3200],
            "align_event": "segment_start", "provenance": {"mirror_file": f"trial_{n}.npz", "sha256": SHA[n]}}
    return convert_nlb_1ms_npz([folder / f"trial_{n}.npz"], spec)


def test_two_trial_windows(shared_data):
    folder = shared_data / "nlb-mc-maze-2trials-1ms"
    stores = [_store(folder, n) for n in (748, 1356)]
    assert stores[0].sizes["unit"] == 182 and stores[0].attrs["bin_ms"] == 5.0
    raw = np.load(folder / "trial_748.npz")  # PROVENANCE.md: 1,654 spikes in the whole 3,236 ms trial
    ms = np.round(raw["timestamps_s"] * 1000).astype(int)
    first = int(np.argmax(ms % 5 == 0))  # the segment starts at the first 5 ms bin edge
    assert int(raw["spikes_1ms"].sum()) == 1654
    assert int(np.nansum(stores[0]["spikes"].values)) == int(raw["spikes_1ms"][first : first + 3200].sum())
    cfg = dict(behaviour="cursor_pos", held_in_only=True, smooth_ms=40, n_steps=100, window={"length_ms": 500, "stride_ms": 50},
               split={"test_fraction": 0.5, "test_trials": ["mc_maze_trial1356"], "seed": 0}, min_std_hz=1.0, n_directions=8,
               min_peak_speed=100)
    data = prepare_neural(stores, cfg)
    assert {t.split(":")[0] for t in data.trial[data.test]} == {"mc_maze_trial1356"}
    assert len(data.train) >= 5 and len(data.test) >= 5
    assert np.abs(data.velocity).max(axis=(1, 2)).min() > 50  # every kept window contains a reach
    # smoothed rates average back to the raw spike rate (2-3 Hz in these files)
    assert 0.5 < data.rates.mean() < 10
