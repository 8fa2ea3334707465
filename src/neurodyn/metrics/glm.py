"""The project's two Poisson GLM fitters, side by side: they differ in what their callers need.

- ``fit_poisson_glm_lbfgs`` / ``predict_poisson_glm``: NaN-masked counts (NLB's unobserved bins), standardised
  inputs, an L2 penalty on the weights, L-BFGS in float64 on the CPU; numpy in and out. The NLB readout from a
  model's latents to the held-out units (DCF's NLB metrics, the NLB smoothing reference).
- ``poisson_glm_newton``: every channel at once by Newton's method on the device of its inputs, a ridge on the
  slopes scaled by the number of samples and none on the intercept, torch in and out. The Meta-dynamical SSM's
  readout refitted on k trials during few-shot transfer (it must stay finite for a channel that never fired).

An earlier attempt to merge them failed on near-constant latents; each has its own recovery test
(tests/unit/test_dcf_nlb_eval.py, tests/test_metadyn.py).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from neurodyn import rehearsal  # a rehearsal (config rehearsal.max_steps) caps both fitters' iterations


def fit_poisson_glm_lbfgs(x: np.ndarray, y: np.ndarray, *, l2: float, max_iter: int) -> dict[str, np.ndarray]:
    """Poisson GLM per output unit, fit jointly by L-BFGS (float64, CPU): minimise
    mean_samples Σ_u [exp(η_u) − y_u η_u] + (l2 / 2) ||W||²,  η = ((x − μ) / σ) W + b.

    x: (M, k) inputs; y: (M, U) counts per bin, NaN = unobserved (left out of the fit). Returns W (k, U),
    b (U,), mu, sd (k,).
    """
    mu, sd = np.nanmean(x, 0), np.nanstd(x, 0) + 1e-8
    xs = torch.as_tensor((x - mu) / sd, dtype=torch.float64)
    obs = torch.as_tensor(~np.isnan(y))
    yt = torch.as_tensor(np.nan_to_num(y), dtype=torch.float64)
    mean_y = np.nanmean(y, 0)
    w = torch.zeros(x.shape[1], y.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.tensor(np.log(np.maximum(mean_y, 1e-6)), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=rehearsal.cap_steps(int(max_iter)), line_search_fn="strong_wolfe", tolerance_grad=1e-9, tolerance_change=1e-12)
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


def poisson_glm_newton(design: torch.Tensor, counts: torch.Tensor, *, ridge: float = 1e-2, iterations: int = 25) -> torch.Tensor:
    """Ridge-penalised Poisson regression of every channel at once by Newton's method.

    design (n, p) with a constant column last, counts (n, N) → coefficients (p, N) of log E[count] = design @ β.
    Starts from the log mean count (the intercept) with zero slopes; the penalty on the slopes (not the intercept)
    keeps the few-trial fit finite, e.g. for a channel that never fired.
    """
    n, p = design.shape
    beta = design.new_zeros(p, counts.shape[1])
    beta[-1] = counts.mean(0).clamp(min=1e-3).log()
    eye = ridge * n * torch.eye(p, device=design.device, dtype=design.dtype)
    eye[-1, -1] = 0.0
    for _ in range(rehearsal.cap_steps(iterations)):
        rate = (design @ beta).clamp(max=20.0).exp()  # (n, N)
        grad = design.T @ (counts - rate) - eye @ beta  # (p, N)
        hess = torch.einsum("ip,ic,iq->cpq", design, rate, design) + eye  # (N, p, p)
        step = torch.linalg.solve(hess, grad.T[..., None])[..., 0].T
        beta = beta + step
        if float(step.abs().max()) < 1e-6:
            break
    return beta
