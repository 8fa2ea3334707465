"""Poisson GLM readout shared by the models: DCF's NLB evaluation (held-out units from latents) and the
Meta-Dynamical SSM's few-shot readout start (counts of a new recording from its inferred latents)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def fit_poisson_glm(x: np.ndarray, y: np.ndarray, *, l2: float, max_iter: int) -> dict[str, np.ndarray]:
    """Poisson GLM per output unit, fit jointly by L-BFGS: minimise
    mean_samples Σ_u [exp(η_u) − y_u η_u] + (l2 / 2) ||W||²,  η = ((x − μ) / σ) W + b.

    x: (M, k) inputs; y: (M, U) counts per bin, NaN = unobserved (left out of the fit). Returns W (k, U),
    b (U,), mu, sd (k,).
    """
    import torch

    mu, sd = np.nanmean(x, 0), np.nanstd(x, 0) + 1e-8
    xs = torch.as_tensor((x - mu) / sd, dtype=torch.float64)
    obs = torch.as_tensor(~np.isnan(y))
    yt = torch.as_tensor(np.nan_to_num(y), dtype=torch.float64)
    mean_y = np.nanmean(y, 0)
    w = torch.zeros(x.shape[1], y.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.tensor(np.log(np.maximum(mean_y, 1e-6)), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=int(max_iter), line_search_fn="strong_wolfe", tolerance_grad=1e-9, tolerance_change=1e-12)
    n_obs = obs.sum().clamp_min(1)

    def closure():
        opt.zero_grad()
        eta = (xs @ w + b).clamp(max=30.0)
        nll = ((torch.exp(eta) - yt * eta) * obs).sum() / n_obs * y.shape[1]
        loss = nll + 0.5 * l2 * (w**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return {"W": w.detach().numpy(), "b": b.detach().numpy(), "mu": mu, "sd": sd}


def predict_poisson_glm(glm: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Expected counts per bin exp(((x − μ)/σ) W + b): (..., k) -> (..., U)."""
    eta = ((x - glm["mu"]) / glm["sd"]) @ glm["W"] + glm["b"]
    return np.exp(np.minimum(eta, 30.0))
