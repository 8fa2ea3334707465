"""Write a full-scale MC_Maze-like NWB file (NLB layout) so that the conversion benchmark runs offline at real size.

    python benchmarks/make_mc_maze_like.py --out benchmarks/out/mc_maze_like.nwb [--scale 1.0] [--seed 0]

What it imitates (the real file, DANDI 000128 ``sub-Jenkins_ses-full_desc-train_behavior+ecephys.nwb``; see
../shared/NLB-DANDI.md section 2): 182 units of which 45 are held out (``heldout``), ``obs_intervals`` on every
unit, about 6,950 s of session and about 2,300 trials (``--scale`` shrinks both), a trials table with the MC_Maze
scalar columns (``move_onset_time``, ``split`` train/val/test/none, ``trial_type``, ``trial_version``,
``maze_id``, ``success``, ``target_on_time``, ``go_cue_time``, ``rt``, ``delay``, ``num_targets``,
``num_barriers``, ``active_target``; the ragged ``target_pos``/``barrier_pos`` are left out), and four behaviour
TimeSeries ``hand_pos``, ``hand_vel``, ``cursor_pos``, ``eye_pos`` at 1 kHz over the whole session with shared
explicit ``timestamps`` (stored once, linked by the others), as in the real train file.

Rates are calibrated on the two real MC_Maze trials in ../shared/data/nlb-mc-maze-2trials-1ms (182 units,
mean 2.8 spikes/s, log-rate mean 0.51 and s.d. 1.15 over units): each unit's baseline is drawn from that
log-normal, and its log rate is modulated by the hand velocity 100 ms ahead (cosine tuning) and by a
direction-tuned preparatory signal between target onset and movement onset. Spikes are drawn at 1 ms
(Poisson) over the whole session and placed uniformly inside their millisecond. Reaches are minimum-jerk
movements from the centre to a target in the trial's direction (``trial_type`` -> angle), then back;
``hand_vel`` is ``np.gradient`` of ``hand_pos`` (as in the real file), the cursor follows the hand, the eyes
jump to the target after target onset. It is a benchmark fixture, not a model of the monkey: only sizes, layout
and rough statistics are meant to be realistic.

The file goes through ``neurodyn.simulate.nwb_writer`` (pynwb, valid NWB) and is written atomically; the same
seed and scale give the same arrays.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

N_UNITS = 182
N_HELDOUT = 45
SESSION_S = 6950.0
N_TRIALS = 2300
N_TYPES, N_VERSIONS = 36, 3          # 108 conditions, as (trial_type, trial_version) in MC_Maze
LOG_RATE_MEAN, LOG_RATE_SD = 0.51, 1.15
SPLIT = {"train": 0.6, "val": 0.2, "test": 0.195, "none": 0.005}
DT = 0.001


def _min_jerk_velocity(n: int) -> np.ndarray:
    """Velocity profile (per sample, sums to 1) of a minimum-jerk movement lasting n samples."""
    s = (np.arange(n) + 0.5) / n
    v = 30 * s**2 * (1 - s) ** 2
    return v / v.sum()


def _trials(rng: np.random.Generator, n: int, session_s: float) -> dict[str, np.ndarray]:
    target_on = rng.uniform(0.25, 0.45, n)
    delay = rng.choice(np.arange(0.0, 1.01, 0.05), n)
    rt = np.clip(rng.normal(0.32, 0.05, n), 0.2, 0.5)
    go = target_on + delay
    onset = go + rt
    length = onset + rng.uniform(1.1, 1.5, n)
    gap = max(0.05, (session_s - length.sum()) / n)
    start = np.concatenate([[0.1], 0.1 + np.cumsum(length + gap)[:-1]])
    start = np.round(start, 3)
    trial_type = rng.integers(1, N_TYPES + 1, n)
    trial_version = rng.integers(0, N_VERSIONS, n)
    split = rng.choice(list(SPLIT), n, p=list(SPLIT.values()))
    return {
        "start_time": start, "stop_time": np.round(start + length, 3),
        "move_onset_time": np.round(start + onset, 3), "target_on_time": np.round(start + target_on, 3),
        "go_cue_time": np.round(start + go, 3), "rt": np.round(rt, 3), "delay": np.round(delay, 3),
        "trial_type": trial_type, "trial_version": trial_version, "maze_id": (trial_type - 1) * N_VERSIONS + trial_version + 1,
        "success": rng.random(n) > 0.03, "num_targets": np.where(trial_version == 2, 3, 1),
        "num_barriers": np.where(trial_version == 0, 0, rng.integers(1, 6, n)), "active_target": np.zeros(n, np.int64),
        "condition": np.asarray([f"trial_type={a}|trial_version={b}" for a, b in zip(trial_type, trial_version)]),
        "split": split,
    }


def _behaviour(rng: np.random.Generator, trials: dict[str, np.ndarray], n_samples: int):
    """hand_pos, hand_vel, cursor_pos, eye_pos (n_samples, 2) at 1 kHz and the per-trial reach angle."""
    n = len(trials["start_time"])
    angle = 2 * np.pi * (trials["trial_type"] - 1) / N_TYPES
    dist = 80.0 + 20.0 * trials["trial_version"]                      # mm
    target = np.stack([np.cos(angle), np.sin(angle)], 1) * dist[:, None]
    disp = np.zeros((n_samples, 2))                                  # per-sample displacement (mm / sample)
    for i in range(n):
        go = int(round(trials["move_onset_time"][i] / DT))
        reach = int(rng.integers(380, 520))
        back = int(round(trials["stop_time"][i] / DT)) - 250          # return to the centre at the end
        for first, vec in ((go, target[i]), (back, -target[i])):
            prof = _min_jerk_velocity(min(reach, n_samples - first))
            disp[first : first + len(prof)] += prof[:, None] * vec[None, :]
    hand_pos = np.cumsum(disp, axis=0) + np.array([0.0, -60.0])
    hand_pos += np.cumsum(rng.normal(0, 0.01, hand_pos.shape), axis=0) * 0.05  # slow tremor / drift
    hand_vel = np.gradient(hand_pos, DT, axis=0)
    cursor_pos = hand_pos + rng.normal(0, 0.05, hand_pos.shape)
    eye_pos = np.tile([0.0, -60.0], (n_samples, 1))
    for i in range(n):
        a = int(round((trials["target_on_time"][i] + 0.2) / DT))
        b = int(round(trials["stop_time"][i] / DT))
        eye_pos[a:b] += target[i]
    eye_pos += rng.normal(0, 2.0, eye_pos.shape)
    return hand_pos, hand_vel, cursor_pos, eye_pos, angle


def simulate(scale: float = 1.0, seed: int = 0):
    """The recording as a ``SimulatedRecording`` (spike times, trials, behaviour with shared 1 kHz timestamps)."""
    from neurodyn.simulate.base import SimulatedRecording

    rng = np.random.default_rng(seed)
    n_trials = max(8, int(round(N_TRIALS * scale)))
    session_s = SESSION_S * n_trials / N_TRIALS
    trials = _trials(rng, n_trials, session_s)
    # nlb_tools' 1 ms table ends where the last observed interval (= the last trial) ends: behaviour samples and
    # spikes after it would not fit in it, so the recording ends there too (as in the real files)
    n_samples = int(round(float(trials["stop_time"][-1]) / DT))
    hand_pos, hand_vel, cursor_pos, eye_pos, angle = _behaviour(rng, trials, n_samples)

    # per-sample drive of the log rates: hand velocity 100 ms ahead (cosine tuning) and a preparatory signal
    lead = np.zeros_like(hand_vel)
    lead[:-100] = hand_vel[100:]
    prep = np.zeros((n_samples, 2))
    for i in range(n_trials):
        a = int(round((trials["target_on_time"][i] + 0.1) / DT))
        b = int(round((trials["move_onset_time"][i] + 0.1) / DT))
        prep[a:b] = [np.cos(angle[i]), np.sin(angle[i])]
    drive = np.concatenate([lead / 400.0, prep], axis=1).astype(np.float32)  # (n_samples, 4)
    del lead, prep

    base = np.exp(rng.normal(LOG_RATE_MEAN, LOG_RATE_SD, N_UNITS))             # spikes/s
    weights = rng.normal(0.0, 0.5, (N_UNITS, 4)).astype(np.float32)
    spike_times = []
    for u in range(N_UNITS):
        rate = np.minimum(base[u] * np.exp(drive @ weights[u]), 300.0) * DT     # expected spikes per ms
        counts = rng.poisson(rate)
        ms = np.repeat(np.arange(n_samples), counts)
        spike_times.append(np.sort((ms + rng.random(ms.size)) * DT))
    heldout = np.zeros(N_UNITS, bool)
    heldout[rng.permutation(N_UNITS)[:N_HELDOUT]] = True
    timestamps = np.arange(n_samples) * DT
    return SimulatedRecording(
        name="mc_maze_like", rate_hz=1000.0, trials=trials, spike_times=spike_times, heldout=heldout,
        behaviour={"hand_pos": (hand_pos, ["x", "y"]), "hand_vel": (hand_vel, ["x", "y"]),
                   "cursor_pos": (cursor_pos, ["x", "y"]), "eye_pos": (eye_pos, ["x", "y"])},
        behaviour_timestamps=timestamps,
        description="MC_Maze-like benchmark fixture (benchmarks/make_mc_maze_like.py): NLB layout at real size",
        params={"scale": scale, "n_units": N_UNITS, "n_heldout": N_HELDOUT, "n_trials": n_trials, "session_s": session_s},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="NWB file to write")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the real session length and trial count")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 10:
        parser.error("--scale must be in (0, 10]")
    from neurodyn.simulate.nwb_writer import write_nwb

    t0 = time.perf_counter()
    recording = simulate(args.scale, args.seed)
    t1 = time.perf_counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_nwb(recording, args.out, seed=args.seed, generator="mc-maze-like (benchmarks/make_mc_maze_like.py)")
    t2 = time.perf_counter()
    n_spikes = sum(len(s) for s in recording.spike_times)
    n_trials = len(recording.trials["start_time"])
    print(f"{args.out}: {N_UNITS} units ({N_HELDOUT} held out), {n_trials} trials, "
          f"{len(recording.behaviour_timestamps) / 1000:.0f} s, {n_spikes:,} spikes, "
          f"{args.out.stat().st_size / 1e6:.0f} MB (simulated in {t1 - t0:.1f} s, written in {t2 - t1:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # a clean clone without `pip install -e`
    sys.exit(main())
