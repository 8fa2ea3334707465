"""Poisson linear dynamical system with rotational latents: a small, fully known recording for tests and the demo.

Model (Macke et al. 2011, "Empirical models of spiking in neural populations", PLDS; here with noise-free
readout of a damped rotational system, as in jPCA-style motor-cortex toy data):

    x_{t+1} = A x_t + w_t,   w_t ~ N(0, sigma^2 I)          (latent state, n_latents = 2 x n_planes)
    A = blockdiag(rho R(2 pi f_j dt))                        (damped rotations, frequency f_j per plane)
    x_0 = r0 (cos phi_c, sin phi_c, cos 2phi_c, ...)         (condition c sets the initial phase phi_c)
    log lambda_t = C x_t + d,   y_t ~ Poisson(lambda_t dt)   (spike counts per bin of dt = bin_ms)
    hand_vel_t = W x_t                                       (a linear behavioural readout, 2-D)

Trials of ``trial_ms`` follow each other without gaps; each has an ``onset_time`` ``pre_ms`` after its start
(the alignment event), a ``condition`` (c = trial mod n_conditions) and a ``split`` (stratified, seeded). Spike
counts become spike times at the centre of a random millisecond inside their bin, so binning them again at
``bin_ms`` (or any multiple of 1 ms dividing it, on the same grid) gives back exactly the simulated counts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurodyn.errors import InputError
from neurodyn.simulate.base import SimulatedRecording
from neurodyn.simulate.nwb_writer import make_main

DEFAULTS: dict[str, Any] = {
    "n_planes": 2,            # rotational planes (n_latents = 2 x n_planes)
    "n_units": 40,
    "n_trials": 64,
    "n_conditions": 8,
    "trial_ms": 700,
    "pre_ms": 200,            # onset_time = start_time + pre_ms
    "bin_ms": 10,             # simulation step; also the sample period of latents and behaviour
    "freq_hz": [1.5, 2.5],    # rotation frequency per plane
    "damping": 0.995,         # rho, per step
    "noise_sd": 0.02,         # sigma of the latent innovations
    "init_radius": 1.5,
    "baseline_rate_hz": 12.0,  # exp(d) / dt on average
    "loading_sd": 0.5,        # C ~ N(0, loading_sd^2)
    "heldout_fraction": 0.25,
    "split": {"train": 0.7, "val": 0.1, "test": 0.2},
}


def _params(params: dict) -> dict[str, Any]:
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise InputError("--params", unknown[0], f"one of {sorted(DEFAULTS)}")
    p = {**DEFAULTS, **params}
    if len(p["freq_hz"]) != p["n_planes"]:
        raise InputError("--params", "freq_hz", f"{p['n_planes']} frequencies (one per plane)", got=p["freq_hz"])
    if p["trial_ms"] % p["bin_ms"] or p["pre_ms"] % p["bin_ms"] or int(p["bin_ms"]) != p["bin_ms"]:
        raise InputError("--params", "bin_ms", "a whole number of ms dividing trial_ms and pre_ms", got=p["bin_ms"])
    return p


def simulate_arrays(params: dict, seed: int) -> dict[str, Any]:
    """The simulation as arrays: counts (trials, bins, units) int, latents (trials, bins, n_latents),
    hand_vel (trials, bins, 2), condition (trials,), split (trials,), heldout (units,), plus the model (A, C, d, W)."""
    from neurodyn.data.convert import assign_split

    p = _params(params)
    rng = np.random.default_rng(seed)
    dt = p["bin_ms"] / 1000.0
    n_lat, n_bins = 2 * p["n_planes"], p["trial_ms"] // p["bin_ms"]
    A = np.zeros((n_lat, n_lat))
    for j, f in enumerate(p["freq_hz"]):
        th = 2 * np.pi * f * dt
        A[2 * j : 2 * j + 2, 2 * j : 2 * j + 2] = p["damping"] * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    C = rng.normal(0.0, p["loading_sd"], (p["n_units"], n_lat))
    d = np.log(p["baseline_rate_hz"] * dt) + rng.normal(0.0, 0.3, p["n_units"])
    W = rng.normal(0.0, 1.0, (2, n_lat))
    condition = np.arange(p["n_trials"]) % p["n_conditions"]
    phase = 2 * np.pi * condition / p["n_conditions"]
    x = np.zeros((p["n_trials"], n_bins, n_lat))
    x[:, 0] = p["init_radius"] * np.concatenate([np.stack([np.cos((j + 1) * phase), np.sin((j + 1) * phase)], 1) for j in range(p["n_planes"])], 1)
    for t in range(1, n_bins):
        x[:, t] = x[:, t - 1] @ A.T + rng.normal(0.0, p["noise_sd"], (p["n_trials"], n_lat))
    rates = np.exp(x @ C.T + d)  # expected count per bin
    counts = rng.poisson(rates)
    heldout = np.zeros(p["n_units"], bool)
    heldout[rng.permutation(p["n_units"])[: int(round(p["heldout_fraction"] * p["n_units"]))]] = True
    cond_str = np.asarray([f"direction={c}" for c in condition])
    split = assign_split(cond_str, p["split"], seed)
    return {"counts": counts, "latents": x, "hand_vel": x @ W.T, "rates": rates, "condition": cond_str, "split": split,
            "heldout": heldout, "A": A, "C": C, "d": d, "W": W, "params": p}


def simulate(params: dict, seed: int) -> SimulatedRecording:
    """Poisson LDS with rotational latents (trials, conditions, splits, hand_vel behaviour, ground-truth latents)."""
    sim = simulate_arrays(params, seed)
    p = sim["params"]
    counts = sim["counts"]
    n_trials, n_bins, n_units = counts.shape
    rng = np.random.default_rng([seed, 1])
    bin_s, trial_s = p["bin_ms"] / 1000.0, p["trial_ms"] / 1000.0
    # spike times: the centre of a random millisecond inside the bin (a whole ms grid, so re-binning is exact)
    flat = counts.transpose(2, 0, 1).reshape(n_units, -1)  # (unit, trial*bin) in time order
    spike_times = []
    for u in range(n_units):
        bins = np.repeat(np.arange(flat.shape[1]), flat[u])
        ms = rng.integers(0, p["bin_ms"], bins.size)
        spike_times.append(np.sort(bins * bin_s + (ms + 0.5) / 1000.0))
    start = np.arange(n_trials) * trial_s
    trials = {
        "start_time": start, "stop_time": start + trial_s, "onset_time": start + p["pre_ms"] / 1000.0,
        "condition": sim["condition"], "split": sim["split"],
    }
    return SimulatedRecording(
        name="poisson_lds", rate_hz=1000.0 / p["bin_ms"], trials=trials, spike_times=spike_times, heldout=sim["heldout"],
        latents=sim["latents"].reshape(-1, sim["latents"].shape[-1]),
        behaviour={"hand_vel": (sim["hand_vel"].reshape(-1, 2), ["x", "y"])},
        start_s=0.0, description="Poisson linear dynamical system with damped rotational latents (neurodyn.simulate.poisson_lds)",
        params=p, attrs={"A": sim["A"], "C": sim["C"], "d": sim["d"], "W": sim["W"], "align_event": "onset_time",
                         "window_ms": [-p["pre_ms"], p["trial_ms"] - p["pre_ms"]]},
    )


main = make_main(simulate)
