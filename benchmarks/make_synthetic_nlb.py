"""Write a synthetic NWB file with MC_Maze's size and NLB layout, for offline scale tests of `neurodyn convert`.

    python benchmarks/make_synthetic_nlb.py DURATION_S N_UNITS OUT.nwb     # 6952 182 -> ~700 MB, like MC_Maze

Poisson spikes (18 Hz, uniform over the session), a trial every 2.4 s (move_onset_time, split train/val/none,
trial_type, trial_version), every 4th unit held out, obs_intervals = the trials (the last one extended to the
end, so that nlb_tools accepts spikes after the last trial), and hand_pos, hand_vel, cursor_pos, eye_pos random
walks at 1 kHz sharing one explicit timestamps dataset, as in MC_Maze. Not real data: for timing, memory and
exactness against nlb_tools (benchmarks/nlb_reference.py) at full scale only.
"""

import datetime
import sys

import numpy as np
from pynwb import NWBHDF5IO, NWBFile, TimeSeries


def main() -> None:
    dur_s, n_units, out = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    rng = np.random.default_rng(0)
    nwb = NWBFile(session_description="synthetic MC_Maze-sized", identifier="neurodyn-synthetic-nlb",
                  session_start_time=datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc))
    for col in ("move_onset_time", "split", "trial_type", "trial_version"):
        nwb.add_trial_column(name=col, description=col)
    starts = np.arange(1.0, dur_s - 4, 2.4)
    for i, s in enumerate(starts):
        nwb.add_trial(start_time=s, stop_time=s + 2.3, move_onset_time=round(s + 1.2 + rng.integers(0, 300) / 1000, 3),
                      split=("train", "val", "none")[i % 3], trial_type=i % 27, trial_version=i % 3)
    intervals = np.stack([starts, starts + 2.3], 1)
    intervals[-1, 1] = dur_s
    nwb.add_unit_column(name="heldout", description="held out")
    for u in range(n_units):
        nwb.add_unit(spike_times=np.sort(rng.uniform(0, dur_s, rng.poisson(18 * dur_s))), obs_intervals=intervals,
                     heldout=bool(u % 4 == 3))
    module = nwb.create_processing_module(name="behavior", description="random walks")
    n = int(dur_s * 1000)
    timestamps, first = np.round(np.arange(n) / 1000, 6), None
    for name in ("hand_pos", "hand_vel", "cursor_pos", "eye_pos"):
        series = TimeSeries(name=name, data=np.cumsum(rng.normal(size=(n, 2)), 0), unit="mm",
                            timestamps=first if first is not None else timestamps, comments="columns=[x,y]")
        first = first or series
        module.add(series)
    with NWBHDF5IO(out, "w") as io:
        io.write(nwb)
    print(f"{len(starts)} trials, {n_units} units, {dur_s:g} s -> {out}")


if __name__ == "__main__":
    main()
