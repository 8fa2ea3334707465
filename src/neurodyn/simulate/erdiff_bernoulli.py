"""ERDiff's synthetic data: continuous-Bernoulli observations of 2-D latent dynamics with known fixed points.

Wang et al., NeurIPS 2023, §5.1 / Fig. 3 (slides: "Synthetic Datasets"): a source and a target domain share the
latent dynamics; their observations differ. Our system (the paper does not print its equations):
    dz₁/dt = a (z₁ − z₁³),   dz₂/dt = −b z₂ + c z₁,
Euler-discretised with step ``dt`` and Gaussian process noise ``noise_sd`` per bin. Its fixed points are
(−1, −c/b) and (1, c/b) (stable) and (0, 0) (saddle). Observations x ∈ [0, 1]^N per bin are continuous-Bernoulli
(Loaiza-Ganem & Cunningham, NeurIPS 2019) with logits C z + b. Both domains draw the loading C and offset b
from ``system_seed``; the target domain then rotates the latent space by ``rotation_deg`` before the loading,
jitters each channel's gain by ``gain_jitter`` and shifts the offsets by ``bias_shift`` — a known, partly
non-rigid change of observation model that alignment must undo.

Trials start from uniform initial states in [−init_range, init_range]²; condition = the basin the trial ends
in ("left" / "right"); split = train / val / test per condition with ``split_fractions``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from neurodyn.simulate.base import SimulatedRecording
from neurodyn.simulate.nwb_writer import make_main

DEFAULTS = {
    "n_trials": 200,
    "n_bins": 20,
    "n_channels": 30,
    "bin_ms": 20.0,
    "dt": 0.25,
    "a": 1.0,
    "b": 1.0,
    "c": 0.5,
    "noise_sd": 0.05,
    "init_range": 2.0,
    "loading_sd": 1.5,
    "system_seed": 7,
    "domain": "source",
    "rotation_deg": 60.0,
    "gain_jitter": 0.2,
    "bias_shift": 0.5,
    "split_fractions": [0.6, 0.2, 0.2],
}


def dynamics_step(z: np.ndarray, params: dict) -> np.ndarray:
    """One Euler step of the noiseless latent dynamics; z (..., 2) -> (..., 2)."""
    p = {**DEFAULTS, **params}
    z1, z2 = z[..., 0], z[..., 1]
    dz1 = p["a"] * (z1 - z1**3)
    dz2 = -p["b"] * z2 + p["c"] * z1
    return z + p["dt"] * np.stack([dz1, dz2], axis=-1)


def fixed_points(params: dict) -> list[dict]:
    p = {**DEFAULTS, **params}
    r = p["c"] / p["b"]
    return [
        {"z": [-1.0, -r], "kind": "stable"},
        {"z": [0.0, 0.0], "kind": "saddle"},
        {"z": [1.0, r], "kind": "stable"},
    ]


def observation_model(params: dict) -> tuple[np.ndarray, np.ndarray]:
    """The domain's loading (N, 2) and offset (N,)."""
    p = {**DEFAULTS, **params}
    rng = np.random.default_rng(p["system_seed"])
    loading = rng.normal(0.0, p["loading_sd"], size=(p["n_channels"], 2))
    offset = rng.normal(0.0, 0.5, size=p["n_channels"])
    if p["domain"] == "target":
        theta = math.radians(p["rotation_deg"])
        rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
        loading = (loading @ rot) * (1.0 + p["gain_jitter"] * rng.normal(size=(p["n_channels"], 1)))
        offset = offset + p["bias_shift"] * rng.normal(size=p["n_channels"])
    elif p["domain"] != "source":
        raise ValueError(f"domain must be 'source' or 'target', got {p['domain']!r}")
    return loading, offset


def simulate_arrays(params: dict, seed: int) -> dict[str, np.ndarray]:
    """latents (trial, bin, 2), observations (trial, bin, N), condition, split — before NWB packing."""
    p = {**DEFAULTS, **params}
    rng = np.random.default_rng(seed)
    n, l = p["n_trials"], p["n_bins"]
    z = np.empty((n, l, 2))
    z[:, 0] = rng.uniform(-p["init_range"], p["init_range"], size=(n, 2))
    for k in range(1, l):
        z[:, k] = dynamics_step(z[:, k - 1], p) + p["noise_sd"] * rng.normal(size=(n, 2))
    loading, offset = observation_model(p)
    logits = torch.as_tensor(z @ loading.T + offset)
    gen = torch.Generator().manual_seed(int(seed))
    # inverse-CDF sampling with our own uniforms keeps the draw seeded and device-independent
    u = torch.rand(logits.shape, generator=gen, dtype=torch.float64).clamp(1e-6, 1 - 1e-6)
    dist = torch.distributions.ContinuousBernoulli(logits=logits, validate_args=False)
    x = dist.icdf(u).clamp(0.0, 1.0).numpy()
    condition = np.where(z[:, -1, 0] < 0, "left", "right")
    split = np.empty(n, dtype=object)
    fr = np.asarray(p["split_fractions"], dtype=float)
    for cond in ("left", "right"):
        idx = rng.permutation(np.flatnonzero(condition == cond))
        n_train = int(round(fr[0] / fr.sum() * len(idx)))
        n_val = int(round(fr[1] / fr.sum() * len(idx)))
        split[idx[:n_train]] = "train"
        split[idx[n_train : n_train + n_val]] = "val"
        split[idx[n_train + n_val :]] = "test"
    return {"latents": z.astype(np.float32), "observations": x.astype(np.float32), "condition": condition, "split": split.astype(str)}


def simulate(params: dict, seed: int) -> SimulatedRecording:
    """Continuous-Bernoulli observations of 2-D latent dynamics with fixed points (ERDiff synthetic, one domain)."""
    p = {**DEFAULTS, **params}
    arrays = simulate_arrays(p, seed)
    n, l = p["n_trials"], p["n_bins"]
    bin_s = p["bin_ms"] / 1000.0
    start = np.arange(n) * l * bin_s
    trials = {
        "start_time": start,
        "stop_time": start + l * bin_s,
        "split": arrays["split"],
        "condition": arrays["condition"],
    }
    return SimulatedRecording(
        name=f"erdiff_bernoulli_{p['domain']}",
        rate_hz=1000.0 / p["bin_ms"],
        trials=trials,
        observations=arrays["observations"].reshape(n * l, -1),
        latents=arrays["latents"].reshape(n * l, -1),
        description="ERDiff synthetic domain: continuous-Bernoulli observations of 2-D latent dynamics with fixed points",
        params=p,
        attrs={"fixed_points": fixed_points(p), "domain": p["domain"], "dynamics": "dz1=a(z1-z1^3), dz2=-b z2 + c z1"},
    )


main = make_main(simulate)
