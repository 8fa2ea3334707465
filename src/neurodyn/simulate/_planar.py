"""Shared machinery of the planar synthetic families (limit cycle, bifurcation) of Meta-Dynamical SSMs.

A generator supplies a drift ``f(x: (n, 2)) -> (n, 2)`` (units per second); this module integrates it with
Euler–Maruyama, cuts independent trials, and observes the latent state through a random linear map with
Gaussian noise or Poisson spikes (Vermani et al., ICLR 2025, §5.1: each dataset has its own read-out and neuron
count, so the model must align them through per-dataset read-ins).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from neurodyn.errors import InputError
from neurodyn.simulate.base import SimulatedRecording

COMMON_DEFAULTS: dict[str, Any] = {
    "n_trials": 64,            # independent trials (fresh initial condition each)
    "n_bins": 100,             # time bins per trial
    "bin_ms": 20.0,            # bin width = observation sampling interval
    "substeps": 4,             # Euler–Maruyama steps per bin
    "process_noise": 0.05,     # latent diffusion, units / sqrt(s)
    "init_radius": [0.2, 1.6],  # initial radius drawn uniformly from this range; angle uniform
    "n_channels": 30,          # observed channels / neurons
    "likelihood": "gaussian",  # gaussian (continuous observations) | poisson (spike trains)
    "obs_noise": 0.1,          # Gaussian observation noise sd
    "base_rate_hz": 10.0,      # Poisson: rate at latent 0
    "gain": 0.8,               # Poisson: log-rate change per unit latent
    "test_fraction": 0.25,     # last trials get split "test"
}


def with_defaults(params: Mapping[str, Any], extra: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Merge ``params`` over the defaults; unknown keys are bad input (a typo must not pass silently)."""
    known = {**COMMON_DEFAULTS, **extra}
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise InputError(where, unknown[0], f"one of the generator parameters [{', '.join(sorted(known))}]")
    out = {**known, **params}
    if out["likelihood"] not in ("gaussian", "poisson"):
        raise InputError(where, "likelihood", "gaussian or poisson", got=out["likelihood"])
    for key in ("n_trials", "n_bins", "n_channels", "substeps"):
        if not isinstance(out[key], int) or out[key] < 1:
            raise InputError(where, key, "a positive integer", got=out[key])
    return out


def simulate_planar(
    drift: Callable[[np.ndarray], np.ndarray], params: Mapping[str, Any], seed: int, *, name: str, description: str
) -> SimulatedRecording:
    """Integrate ``drift`` for ``n_trials`` trials and observe it.

    Returns observations (n_trials * n_bins, n_channels) for Gaussian data or spike times for Poisson data,
    latents (n_trials * n_bins, 2), and a trials table (start/stop/split/condition) on the session clock.
    """
    rng = np.random.default_rng(seed)
    n_trials, n_bins, substeps = params["n_trials"], params["n_bins"], params["substeps"]
    dt_bin = params["bin_ms"] / 1000.0
    dt = dt_bin / substeps
    lo, hi = params["init_radius"]
    radius = rng.uniform(lo, hi, n_trials)
    angle = rng.uniform(0, 2 * np.pi, n_trials)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    latents = np.empty((n_trials, n_bins, 2))
    for t in range(n_bins):
        latents[:, t] = x
        for _ in range(substeps):
            x = x + drift(x) * dt + params["process_noise"] * np.sqrt(dt) * rng.standard_normal(x.shape)
    n_ch = params["n_channels"]
    # the random read-out is drawn after the latents so that the dynamics of a seed do not depend on n_channels
    readout = rng.standard_normal((2, n_ch)) / np.sqrt(2.0)
    offset = rng.normal(0.0, 0.5, n_ch)
    flat = latents.reshape(-1, 2)
    start = np.arange(n_trials) * n_bins * dt_bin
    n_test = int(round(params["test_fraction"] * n_trials))
    split = np.array(["train"] * (n_trials - n_test) + ["test"] * n_test)
    trials = {
        "start_time": start,
        "stop_time": start + n_bins * dt_bin,
        "split": split,
        "condition": np.array(["0"] * n_trials),
    }
    rec = SimulatedRecording(
        name=name,
        rate_hz=1000.0 / params["bin_ms"],
        trials=trials,
        latents=flat.astype(np.float32),
        description=description,
        params=dict(params),
    )
    if params["likelihood"] == "gaussian":
        obs = flat @ readout + offset + params["obs_noise"] * rng.standard_normal((flat.shape[0], n_ch))
        rec.observations = obs.astype(np.float32)
    else:
        log_rate = np.log(params["base_rate_hz"] * dt_bin) + params["gain"] * (flat @ readout)
        counts = rng.poisson(np.exp(log_rate))
        times = (np.arange(flat.shape[0]) * dt_bin)[:, None]
        rec.spike_times = []
        for unit in range(n_ch):
            c = counts[:, unit]
            rows = np.repeat(np.arange(len(c)), c)
            rec.spike_times.append(np.sort(times[rows, 0] + rng.uniform(0, dt_bin, rows.size)))
        rec.heldout = np.zeros(n_ch, bool)
    rec.attrs["readout"] = readout.tolist()
    return rec
