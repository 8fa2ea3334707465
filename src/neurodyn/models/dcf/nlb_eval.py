"""NLB metrics (co-bps, vel R², psth R²; Pei et al. 2021) for DCF and its comparison models.

The DCF paper reports no NLB metrics; this is the standard way to put a latent model on the benchmark's scale
when the store has held-out units (MC_Maze: 137 held-in, 45 held-out):

1. A model's latents (n, T_steps, k) live on DCF's resampled step grid; they are linearly interpolated back to
   the centres of the store's bins, per source trial (``latents_on_store_bins``).
2. A Poisson GLM readout λ_u(t) = exp(w_uᵀ z(t) + b_u) (counts per bin; L2 penalty on w, standardised z) is
   fit from those latents to the **held-out** units' spike counts on the training trials (``neurodyn.metrics.glm.fit_poisson_glm_lbfgs``),
   and predicts their rates on the test trials.
3. Held-in rates: the model's own rate reconstruction when it has one (DCF: compress → generate; VAE / PCA /
   DMD: decoded latents; LFADS: inferred rates), else the same GLM readout fit to the held-in units.
4. co-bps on the test trials' held-out units, vel R² (ridge from held-in + held-out rates to behaviour with the
   NLB lag, alpha by 5-fold CV on training trials) and psth R² (condition-averaged predicted rates vs smoothed
   spike PSTHs), all from :mod:`neurodyn.metrics.nlb`.

A reference row, ``smoothing``, is NLB's spike-smoothing baseline: Gaussian-smoothed held-in spikes as the
held-in rates and as the GLM's inputs.

These metrics need windows that are whole store trials (``data.window: null``): with windows cut from a
continuous recording (the demo) there is no trial-aligned target, and ``nlb_unavailable`` says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from neurodyn.errors import InputError
from neurodyn.metrics import nlb
from neurodyn.metrics.glm import fit_poisson_glm_lbfgs, predict_poisson_glm


def nlb_unavailable(stores: Sequence[Any], data_cfg: Mapping[str, Any]) -> str | None:
    """Why NLB metrics cannot be computed for these stores and this data configuration (None: they can).
    Every reason that applies is listed."""
    reasons = []
    no_heldout = [str(ds.attrs.get("name", "?")) for ds in stores if not np.asarray(ds["heldout"].values, bool).any()]
    if no_heldout:
        reasons.append(f"no held-out units in {', '.join(no_heldout)} (co-bps needs them)")
    if data_cfg.get("window") is not None:
        reasons.append("windows are cut from continuous recordings (data.window is set), so there are no whole NLB trials to score "
                       "(NLB metrics need data.window: null)")
    if not data_cfg.get("held_in_only"):
        reasons.append("data.held_in_only is false: the models saw the held-out units, so co-bps would not be a prediction")
    return "; ".join(reasons) or None


def latents_on_store_bins(values: np.ndarray, data: Any, n_bins: int, bin_ms: float) -> np.ndarray:
    """Interpolate per-window series from DCF's step grid onto a store's bins.

    values: (n, T_steps, k), one row per window of ``data`` (a ``NeuralData`` whose windows are whole trials);
    returns (n, n_bins, k) at the store bins' centres (constant beyond the first / last step centre).
    """
    n, t, k = values.shape
    step_centres = data.start_ms[:, None] + (np.arange(t)[None] + 0.5) * data.step_ms  # ms from span start
    out = np.empty((n, n_bins, k), np.float64)
    for w in range(n):
        bin_centres = (np.arange(n_bins) - data.span_start_bin[w] + 0.5) * bin_ms
        for j in range(k):
            out[w, :, j] = np.interp(bin_centres, step_centres[w], values[w, :, j])
    return out


def _glm_rates(inputs: np.ndarray, counts: np.ndarray, train: np.ndarray, cfg: Mapping[str, Any]) -> np.ndarray:
    """Fit on the training trials' observed bins, predict every trial. inputs: (n, B, k); counts: (n, B, U)."""
    xt = inputs[train].reshape(-1, inputs.shape[-1])
    yt = counts[train].reshape(-1, counts.shape[-1])
    glm = fit_poisson_glm_lbfgs(xt, yt, l2=float(cfg["glm_l2"]), max_iter=int(cfg["glm_max_iter"]))
    return predict_poisson_glm(glm, inputs)


def evaluate_methods(
    stores: Sequence[Any],
    data: Any,
    methods: Mapping[str, Mapping[str, np.ndarray | None]],
    cfg: Mapping[str, Any],
    *,
    data_cfg: Mapping[str, Any],
    reference: bool = True,
) -> dict[str, dict[str, float]]:
    """NLB metrics of every method, plus (``reference``) the ``smoothing`` reference.

    methods: name -> {"latents": (n, T_steps, k), "heldin_hz": (n, T_steps, N_in) or None}, rows aligned with
    ``data``'s windows. cfg: the ``nlb`` report slice (behaviour, lag_ms, psth_kernel_sd_ms, glm_l2,
    glm_max_iter, n_latents, smoothing_sd_ms). Returns name -> flat metrics (keys from :mod:`neurodyn.metrics.nlb`
    plus counts).
    """
    why = nlb_unavailable(stores, data_cfg)
    if why:
        raise InputError("dcf.report.nlb", "data", "whole trials with held-out units", got=why)
    bins = {int(ds.sizes["time"]) for ds in stores}
    bin_ms = {float(ds.attrs["bin_ms"]) for ds in stores}
    if len(bins) != 1 or len(bin_ms) != 1:
        raise InputError("dcf.report.nlb", "sessions", "stores with one time axis (same bins and bin_ms)", got=(sorted(bins), sorted(bin_ms)))
    n_bins, bin_ms_v = bins.pop(), bin_ms.pop()
    # the store trials behind the windows, in window order
    spikes = np.stack([np.asarray(stores[s]["spikes"].values[r], np.float64) for s, r in zip(data.store_index, data.store_row)])
    heldout = np.asarray(stores[0]["heldout"].values, bool)
    for ds in stores[1:]:
        if not np.array_equal(np.asarray(ds["heldout"].values, bool), heldout):
            raise InputError(ds.attrs.get("name", "session"), "heldout", "the same held-in / held-out units as the first store")
    var = cfg["behaviour"]
    if any(var not in ds for ds in stores):
        raise InputError("dcf.report.nlb", "behaviour", f"a behaviour variable {var!r} in every store")
    beh = np.stack([np.asarray(stores[s][var].values[r], np.float64) for s, r in zip(data.store_index, data.store_row)])
    cond = np.asarray([str(stores[s]["condition"].values[r]) for s, r in zip(data.store_index, data.store_row)])
    train = data.split == "train"
    test = data.split == "test"
    lag = float(cfg["lag_ms"]) / bin_ms_v
    if abs(lag - round(lag)) > 1e-9:
        raise InputError("dcf.report.nlb", "lag_ms", f"a multiple of bin_ms = {bin_ms_v}", got=cfg["lag_ms"])
    held_in_spikes, held_out_spikes = spikes[:, :, ~heldout], spikes[:, :, heldout]
    psth_target = None
    if len(set(cond.tolist())) > 1 and cfg["psth_kernel_sd_ms"]:
        used = train | test
        psth_target = nlb.condition_psth(spikes[used], cond[used], kernel_sd_bins=float(cfg["psth_kernel_sd_ms"]) / bin_ms_v)
    bin_s = bin_ms_v / 1000.0

    def score(heldin_rates: np.ndarray, heldout_rates: np.ndarray) -> dict[str, float]:
        rates = np.empty(spikes.shape)
        rates[:, :, ~heldout], rates[:, :, heldout] = heldin_rates, heldout_rates
        out = {nlb.CO_BPS: nlb.co_bps(heldout_rates[test], held_out_spikes[test])}
        out[nlb.VEL_R2] = nlb.vel_r2(rates[train], beh[train], rates[test], beh[test], lag_bins=int(round(lag)))
        if psth_target is not None:
            out[nlb.PSTH_R2] = nlb.psth_r2(rates[test], cond[test], psth_target[1], target_conditions=psth_target[0])
        out.update(n_train_trials=int(train.sum()), n_test_trials=int(test.sum()), n_heldout_units=int(heldout.sum()))
        return out

    results: dict[str, dict[str, float]] = {}
    if reference:  # NLB's spike-smoothing baseline: smoothed held-in spikes are both the held-in rates and the GLM inputs
        smooth = nlb.gaussian_smooth(held_in_spikes, float(cfg["smoothing_sd_ms"]) / bin_ms_v, axis=1)
        smooth = np.where(np.isnan(smooth), np.nanmean(smooth, axis=(0, 1), keepdims=True), smooth)
        results["smoothing"] = score(smooth, _glm_rates(smooth, held_out_spikes, train, cfg))
    k_max = cfg["n_latents"]
    for name, m in methods.items():
        lat = np.asarray(m["latents"], np.float64)
        lat = lat[..., : int(k_max)] if k_max else lat
        z = latents_on_store_bins(lat, data, n_bins, bin_ms_v)
        if m.get("heldin_hz") is not None:
            if np.shape(m["heldin_hz"])[-1] != int((~heldout).sum()):
                raise InputError(name, "reconstruction_hz", f"rates of the {int((~heldout).sum())} held-in units", got=np.shape(m["heldin_hz"]))
            heldin = latents_on_store_bins(np.asarray(m["heldin_hz"], np.float64), data, n_bins, bin_ms_v) * bin_s
            heldin = np.maximum(heldin, 0.0)  # a reconstruction may dip below zero; rates cannot
        else:
            heldin = _glm_rates(z, held_in_spikes, train, cfg)
        results[name] = score(heldin, _glm_rates(z, held_out_spikes, train, cfg))
        results[name]["n_latents_read_out"] = int(lat.shape[-1])
    return results
