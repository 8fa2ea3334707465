"""A small *train-style* NLB NWB file built from real data: the two 1 ms MC_Maze excerpts in ../shared/data.

NLB train files (held-out units, behaviour, train/val splits) are 30 MB to 1.8 GB and not available offline,
so this fixture rebuilds their layout from the 3.2 s + 3.6 s of real MC_Maze spikes and behaviour in
`nlb-mc-maze-2trials-1ms` (see its PROVENANCE.md): excerpt 748 placed at t = 1 s, excerpt 1356 at t = 5 s,
spike times at the centre of their millisecond, behaviour (hand_pos, hand_vel, cursor_pos, eye_pos) with
explicit shared timestamps (as in MC_Maze), obs_intervals = the two excerpts, every 4th unit held out, and
trials of 750 ms every 800 ms with a move onset 250-259 ms after the start, kept >= 300 ms from the excerpt
edges so that the behaviour filter (+-250 ms) and the forward / lagged windows stay inside recorded data.

Run as a script to write the file: ``python tests/integration/nlb_like.py SHARED_DATA OUT.nwb``.
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

import numpy as np

OFFSETS_S = {"trial_748.npz": 1.0, "trial_1356.npz": 5.0}
BEHAVIOUR = ("hand_pos", "hand_vel", "cursor_pos", "eye_pos")


def build(shared_data: Path, out: Path) -> dict:
    """Write the file; returns what went in (spike counts per unit, trial table) for the tests."""
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    folder = Path(shared_data) / "nlb-mc-maze-2trials-1ms"
    parts = [(np.load(folder / name), off) for name, off in OFFSETS_S.items()]
    unit_ids = parts[0][0]["unit_ids"]
    spikes = [[] for _ in unit_ids]
    ts_all, beh_all, intervals, trials = [], {k: [] for k in BEHAVIOUR}, [], []
    for data, off in parts:
        n = len(data["timestamps_s"])
        t = np.round((round(off * 1000) + np.arange(n)) / 1000.0, 6)  # the floats nlb_tools puts on its 1 ms grid
        ts_all.append(t)
        for k in BEHAVIOUR:
            beh_all[k].append(data[k])
        intervals.append([off, off + n / 1000.0])
        counts = data["spikes_1ms"]
        for u in range(len(unit_ids)):
            ms = np.repeat(np.arange(n), counts[:, u])
            spikes[u].append(off + (ms + 0.5) / 1000.0)
        start = off + 0.3
        while start + 0.75 + 0.2 + 0.3 <= off + n / 1000.0:
            trials.append(start)
            start += 0.8
    nwb = NWBFile(session_description="NLB-like fixture from two real MC_Maze excerpts", identifier="neurodyn-nlb-like",
                  session_start_time=datetime.datetime(2009, 9, 18, tzinfo=datetime.timezone.utc))
    for col in ("move_onset_time", "split", "trial_type", "trial_version"):
        nwb.add_trial_column(name=col, description=col)
    rng = np.random.default_rng(0)
    table = []
    for i, start in enumerate(trials):
        onset = round(start + 0.25 + rng.integers(0, 10) / 1000.0, 3)
        row = dict(start_time=round(start, 3), stop_time=round(start + 0.75, 3), move_onset_time=onset,
                   split=("train", "val")[i % 2], trial_type=int(i % 3), trial_version=int(i % 2))
        nwb.add_trial(**row)
        table.append(row)
    nwb.add_unit_column(name="heldout", description="held out")
    heldout = np.arange(len(unit_ids)) % 4 == 3
    for u, uid in enumerate(unit_ids):
        nwb.add_unit(id=int(uid), spike_times=np.concatenate(spikes[u]), obs_intervals=np.asarray(intervals), heldout=bool(heldout[u]))
    module = nwb.create_processing_module(name="behavior", description="real MC_Maze behaviour")
    # behaviour on the full 1 ms grid from 0 (NaN between the excerpts): nlb_tools needs one regular index
    end_ms = int(round(intervals[-1][1] * 1000))
    ts = np.round(np.arange(end_ms) / 1000.0, 6)
    where = np.concatenate([np.round(t * 1000).astype(np.int64) for t in ts_all])
    first = None
    for k in BEHAVIOUR:
        values = np.full((end_ms, 2), np.nan)
        values[where] = np.concatenate(beh_all[k])
        series = TimeSeries(name=k, data=values, unit="mm", timestamps=first if first is not None else ts,
                            comments="columns=[x,y]", description=k)
        first = first or series
        module.add(series)
    with NWBHDF5IO(str(out), "w") as io:
        io.write(nwb)
    return {"unit_ids": unit_ids, "heldout": heldout, "trials": table, "intervals": intervals}


if __name__ == "__main__":
    build(Path(sys.argv[1]), Path(sys.argv[2]))
