"""Scores of ERDiff's experiments.

- velocity decoding (Table 1): R² (%) — 1 − SS_res / SS_tot per behaviour axis over all (trial, bin) samples,
  averaged over axes (sklearn's ``uniform_average``) — and RMSE (root mean squared error over samples and axes,
  in the behaviour's units);
- synthetic (Fig. 3A): trial-average NLL of aligned latent trajectories under the true latent dynamics and KLD
  between the aligned and the true latent distributions (our precise definitions; the paper gives names only).
"""

from __future__ import annotations

import math

import numpy as np


def r2_pct(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """y (..., axis): R² in percent, per axis then averaged."""
    yt = y_true.reshape(-1, y_true.shape[-1]).astype(np.float64)
    yp = y_pred.reshape(-1, y_pred.shape[-1]).astype(np.float64)
    ss_res = ((yt - yp) ** 2).sum(0)
    ss_tot = ((yt - yt.mean(0)) ** 2).sum(0)
    return float(100.0 * np.mean(1.0 - ss_res / np.maximum(ss_tot, 1e-12)))


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y_true.astype(np.float64) - y_pred.astype(np.float64)) ** 2)))


def fit_affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares affine map A ((d_src + 1), d_dst) with [src, 1] @ A ≈ dst; src (n, d_src), dst (n, d_dst)."""
    design = np.concatenate([src, np.ones((src.shape[0], 1))], axis=1)
    return np.linalg.lstsq(design, dst, rcond=None)[0]


def apply_affine(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    flat = x.reshape(-1, x.shape[-1])
    out = np.concatenate([flat, np.ones((flat.shape[0], 1))], axis=1) @ a
    return out.reshape(*x.shape[:-1], a.shape[1])


def transition_nll(z: np.ndarray, step_fn, noise_sd: float) -> float:
    """Trial-average negative log-likelihood (nats per trial) of trajectories z (trial, time, d) under the
    Gaussian transition z_{k+1} ~ N(step_fn(z_k), noise_sd² I) of the true latent dynamics."""
    pred = step_fn(z[:, :-1])
    resid = z[:, 1:] - pred
    d = z.shape[-1]
    per_step = 0.5 * (resid**2).sum(-1) / noise_sd**2 + 0.5 * d * math.log(2 * math.pi * noise_sd**2)
    return float(per_step.sum(-1).mean())


def gaussian_kld(p: np.ndarray, q: np.ndarray) -> float:
    """KL(N_p ‖ N_q) between full-covariance Gaussians moment-matched to samples p (n, d) and q (m, d)."""
    p = p.reshape(-1, p.shape[-1]).astype(np.float64)
    q = q.reshape(-1, q.shape[-1]).astype(np.float64)
    d = p.shape[1]
    mp, mq = p.mean(0), q.mean(0)
    cp = np.cov(p, rowvar=False) + 1e-6 * np.eye(d)
    cq = np.cov(q, rowvar=False) + 1e-6 * np.eye(d)
    cq_inv = np.linalg.inv(cq)
    diff = mq - mp
    _, logdet_p = np.linalg.slogdet(cp)
    _, logdet_q = np.linalg.slogdet(cq)
    return float(0.5 * (np.trace(cq_inv @ cp) + diff @ cq_inv @ diff - d + logdet_q - logdet_p))


def synthetic_scoring(source_latents: dict, sim_params: dict):
    """For the continuous-Bernoulli synthetic pair: map model latents to the true latent space with an affine map
    fitted on SOURCE trials only (model posterior means -> true source latents), then score target latents by the
    trial-average NLL under the true dynamics and the KLD to the true source latent distribution.

    source_latents: the source run's ``latents.pt`` (mean (trial, time, d), split, true_latents); returns the
    affine map and ``score(latents (trial, time, d)) -> {"nll", "kld"}``."""
    from neurodyn.simulate.erdiff_bernoulli import DEFAULTS, dynamics_step

    p = {**DEFAULTS, **sim_params}
    keep = np.isin(np.asarray(source_latents["split"]), ["train", "val"])
    model = source_latents["mean"].numpy()[keep]
    true = source_latents["true_latents"].numpy()[keep]
    amap = fit_affine(model.reshape(-1, model.shape[-1]), true.reshape(-1, true.shape[-1]))

    def score(latents: np.ndarray) -> dict[str, float]:
        mapped = apply_affine(amap, latents)
        return {
            "nll": transition_nll(mapped, lambda z: dynamics_step(z, p), p["noise_sd"]),
            "kld": gaussian_kld(mapped, true),
        }

    return amap, score
