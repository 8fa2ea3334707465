"""NLB metrics for DCF-style latents on a synthetic store with held-out units (known answer).

A 3-D latent trajectory per trial (a rotation whose phase depends on the condition) drives Poisson spikes of
held-in and held-out units through a log-linear map, and hand velocity is a linear function of the latents.
Reading out the *true* latents must give positive co-bps, a high vel R² and a positive psth R²; the same latents
shuffled across trials must give co-bps ≤ ~0. The readout's spike-smoothing reference must also be positive.
"""

from __future__ import annotations

import numpy as np
import pytest

from neurodyn.errors import InputError
from neurodyn.metrics import nlb
from neurodyn.models.dcf import nlb_eval
from neurodyn.models.dcf.data import prepare_neural
from neurodyn.store import make_session

N_TRIALS, N_BINS, BIN_MS, N_IN, N_OUT = 48, 60, 10.0, 30, 10
CFG = {"behaviour": "hand_vel", "lag_ms": 0.0, "psth_kernel_sd_ms": 30.0, "glm_l2": 1e-3, "glm_max_iter": 100,
       "n_latents": None, "smoothing_sd_ms": 40.0}
DATA = {"behaviour": "hand_vel", "held_in_only": True, "smooth_ms": 30.0, "n_steps": 40, "window": None,
        "split": {"test_fraction": 0.25, "test_trials": [], "seed": 0}, "min_std_hz": 1.0, "n_directions": 4, "min_peak_speed": 0}


def _store(seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.arange(N_BINS) * BIN_MS / 1000.0
    cond = rng.integers(0, 4, N_TRIALS)
    phase = cond * np.pi / 2 + 0.2 * rng.standard_normal(N_TRIALS)
    z = np.stack([np.cos(2 * np.pi * 1.5 * t[None] + phase[:, None]), np.sin(2 * np.pi * 1.5 * t[None] + phase[:, None]),
                  np.tile(np.linspace(-1, 1, N_BINS), (N_TRIALS, 1))], -1)  # (trial, time, 3)
    c = rng.normal(0, 0.8, (3, N_IN + N_OUT))
    rates = np.exp(z @ c + np.log(0.3))  # counts per 10 ms bin (~30 Hz)
    spikes = rng.poisson(rates).astype(np.float32)
    vel = z[..., :2] @ np.array([[200.0, 30.0], [-50.0, 180.0]])
    ds = make_session(
        name="synth", spikes=spikes, bin_ms=BIN_MS, time_ms=np.arange(N_BINS) * BIN_MS, align_event="start_time",
        source={"kind": "test"}, heldout=np.arange(N_IN + N_OUT) >= N_IN, split=np.array(["train"] * N_TRIALS),
        condition=np.array([f"c{k}" for k in cond]), behaviour={"hand_vel": (vel, ["x", "y"])},
    )
    return ds, z


def _on_steps(z: np.ndarray, data) -> np.ndarray:
    """The true latents sampled at DCF's step centres (what a model's latents look like)."""
    centres = (np.arange(DATA["n_steps"]) + 0.5) * data.step_ms / BIN_MS - 0.5
    idx = np.arange(N_BINS)
    return np.stack([np.stack([np.interp(centres, idx, z[w, :, j]) for j in range(z.shape[-1])], -1) for w in range(len(z))])


@pytest.fixture(scope="module")
def synthetic():
    ds, z = _store()
    data = prepare_neural([ds], DATA)
    return ds, data, _on_steps(z[data.store_row], data)


def test_true_latents_beat_shuffled(synthetic):
    ds, data, lat = synthetic
    flat = lat.reshape(-1, lat.shape[-1])  # shuffle (trial, step) samples jointly: no trial or time structure left
    shuffled = flat[np.random.default_rng(1).permutation(len(flat))].reshape(lat.shape)
    res = nlb_eval.evaluate_methods([ds], data, {"truth": {"latents": lat, "heldin_hz": None},
                                                 "shuffled": {"latents": shuffled, "heldin_hz": None}}, CFG, data_cfg=DATA)
    assert res["truth"][nlb.CO_BPS] > 0.1
    assert res["shuffled"][nlb.CO_BPS] < 0.02
    assert res["truth"][nlb.VEL_R2] > 0.8 and res["truth"][nlb.VEL_R2] > res["shuffled"][nlb.VEL_R2]
    assert res["truth"][nlb.PSTH_R2] > 0.3
    assert res["smoothing"][nlb.CO_BPS] > 0.0  # smoothed held-in spikes carry the latents too
    assert res["truth"]["n_test_trials"] == 12 and res["truth"]["n_heldout_units"] == N_OUT


def test_heldin_reconstruction_is_used_and_checked(synthetic):
    ds, data, lat = synthetic
    recon = data.rates  # (n, T, N_in) spikes/s: the held-in input itself, smoothed
    res = nlb_eval.evaluate_methods([ds], data, {"recon": {"latents": lat, "heldin_hz": recon}}, CFG, data_cfg=DATA)
    assert res["recon"][nlb.VEL_R2] > 0.5
    with pytest.raises(InputError, match="held-in units"):
        nlb_eval.evaluate_methods([ds], data, {"bad": {"latents": lat, "heldin_hz": recon[..., :5]}}, CFG, data_cfg=DATA)


def test_unavailable_reasons(synthetic):
    ds, _, _ = synthetic
    assert nlb_eval.nlb_unavailable([ds], DATA) is None
    assert "window" in nlb_eval.nlb_unavailable([ds], {**DATA, "window": {"length_ms": 100, "stride_ms": 50}})
    assert "held_in_only" in nlb_eval.nlb_unavailable([ds], {**DATA, "held_in_only": False})
    no_ho = ds.assign_coords(heldout=("unit", np.zeros(ds.sizes["unit"], bool)))
    assert "held-out" in nlb_eval.nlb_unavailable([no_ho], DATA)


def test_poisson_glm_recovers_weights():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4000, 2))
    w = np.array([[0.5, -0.3], [0.2, 0.4]])
    y = rng.poisson(np.exp(x @ w + [-0.5, 0.1])).astype(float)
    y[::7, 0] = np.nan  # unobserved bins are left out
    from neurodyn.metrics.glm import fit_poisson_glm_lbfgs

    glm = fit_poisson_glm_lbfgs(x, y, l2=0.0, max_iter=100)
    assert np.allclose(glm["W"] / glm["sd"][:, None], w, atol=0.06)
