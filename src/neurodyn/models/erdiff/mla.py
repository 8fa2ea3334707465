"""Maximum-likelihood alignment (MLA) of a target read-in against ERDiff's frozen diffusion prior.

Wang et al., NeurIPS 2023, §3.3 (slides: "Maximum Likelihood Alignment with Diffusion Model"):
    argmax_φ E_{Z ~ q(Z|X^(t); φ)} [log p_0(Z; θ_s)],  with the upper bound on the negative log-likelihood
    −E[log p_0(Z; θ_s)] ≤ const + E_t E_{Z_0, ε} [ w(t)² ‖ε − ε(Z_t, t; θ_s)‖² − 2 ∇_Z · f(Z_t, t) ]
(the continuous-time bound of Song, Durkan, Murray & Ermon, NeurIPS 2021, Thm. 1, in its denoising form).
f is the forward SDE's drift; for the variance-preserving process ERDiff uses, f(Z, t) = −½ β(t) Z, and the
divergence is estimated with the Hutchinson–Skilling trace estimator as the paper says. Note what follows from
the equation: for this linear drift ∇·f = −½ β(t)·l·d does not depend on Z, so the divergence term shifts the
loss but carries no gradient to φ; the denoising term does the alignment ("the recovery of spatio-temporal
structure is primarily conducted by the denoising score matching part", slides). Only φ_t (the target read-in)
receives gradients; the prior, the rest of the encoder and the decoder are frozen.

Options the paper's code adds (off unless configured; PAPERS.md): an entropic optimal-transport (Sinkhorn)
term between target and source latent trials, and a moment (Gaussian KL) term.
"""

from __future__ import annotations

import torch
from torch import nn

from neurodyn.models.erdiff.diffusion import DiffusionPrior, _randint, _randn, hutchinson_divergence


class MaximumLikelihoodAlignment(nn.Module):
    """The alignment objective for latents z (B, l, d) sampled from the target posterior."""

    def __init__(self, *, prior: DiffusionPrior, t_samples: int = 1, divergence_weight: float = 1.0,
                 hutchinson_samples: int = 1, ot_weight: float = 0.0, moment_weight: float = 0.0,
                 sinkhorn_eps: float = 0.1, sinkhorn_iters: int = 50, weighting: str = "uniform"):
        super().__init__()
        self.prior = prior
        for p in self.prior.parameters():
            p.requires_grad_(False)
        self.t_samples = t_samples
        self.divergence_weight = divergence_weight
        self.hutchinson_samples = hutchinson_samples
        self.ot_weight, self.moment_weight = ot_weight, moment_weight
        self.sinkhorn_eps, self.sinkhorn_iters = sinkhorn_eps, sinkhorn_iters
        self.register_buffer("w2", dsm_weights(prior, weighting))

    def drift(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Forward VP-SDE drift f(Z, t) = −½ β(t) Z (discrete β_t as the rate per step)."""
        return -0.5 * self.prior.schedule.betas[t].view(-1, 1, 1) * z

    def forward(self, z: torch.Tensor, *, gen: torch.Generator | None = None, z_source: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        z0 = self.prior.standardise(z)
        dsm = z.new_zeros(())
        div = z.new_zeros(())
        steps = self.prior.schedule.steps
        for _ in range(self.t_samples):
            t = _randint(steps, (z0.shape[0],), gen, z.device)
            eps = _randn(z0.shape, gen, z.device)
            zt = self.prior.schedule.noisy(z0, t, eps)
            dsm = dsm + (self.w2[t] * (eps - self.prior.denoiser(zt, t)).pow(2).sum(dim=(1, 2))).mean()
            if self.divergence_weight:
                div = div + hutchinson_divergence(lambda v: self.drift(v, t), zt, n_samples=self.hutchinson_samples, gen=gen).mean()
        dsm, div = dsm / self.t_samples, div / self.t_samples
        loss = dsm - 2.0 * self.divergence_weight * div
        out = {"dsm": dsm, "divergence": div}
        if (self.ot_weight or self.moment_weight) and z_source is None:
            raise ValueError("OT / moment terms need source latents")
        if self.ot_weight:
            ot = sinkhorn_divergence(z0.flatten(1), self.prior.standardise(z_source).flatten(1), eps=self.sinkhorn_eps, iters=self.sinkhorn_iters)
            loss = loss + self.ot_weight * ot
            out["ot"] = ot
        if self.moment_weight:
            mom = gaussian_kl(z0.flatten(0, 1), self.prior.standardise(z_source).flatten(0, 1))
            loss = loss + self.moment_weight * mom
            out["moment"] = mom
        out["loss"] = loss
        return out


WEIGHTINGS = ("uniform", "likelihood")


def dsm_weights(prior: DiffusionPrior, weighting: str) -> torch.Tensor:
    """w(t)² per diffusion step, (T,), normalised to mean 1 over t.

    ``uniform``: w ≡ 1 (Ho et al. 2020's simple loss, the one the prior is trained with). ``likelihood``: the
    weighting under which the denoising term is the negative log-likelihood bound of Song, Durkan, Murray & Ermon
    (NeurIPS 2021, Thm. 1) — λ(t) = g(t)² on the score, i.e. g(t)²/σ_t² = β_t / (1 − ᾱ_t) for ε-prediction of the
    VP process — which puts most weight on small noise levels.
    """
    betas, abar = prior.schedule.betas, prior.schedule.alpha_bar
    if weighting == "uniform":
        w = torch.ones_like(betas)
    elif weighting == "likelihood":
        w = betas / (1 - abar)
    else:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    return w / w.mean()


def _entropic_ot(a: torch.Tensor, b: torch.Tensor, eps: float, iters: int) -> torch.Tensor:
    """Entropic OT cost between uniform point clouds a (n, D), b (m, D), squared-Euclidean cost / D, log domain."""
    cost = torch.cdist(a, b).pow(2) / a.shape[1]
    n, m = cost.shape
    log_mu = torch.full((n,), -torch.log(torch.tensor(float(n))).item(), device=a.device)
    log_nu = torch.full((m,), -torch.log(torch.tensor(float(m))).item(), device=a.device)
    f = torch.zeros(n, device=a.device)
    g = torch.zeros(m, device=a.device)
    for _ in range(iters):
        f = -eps * torch.logsumexp((g[None, :] - cost) / eps + log_nu[None, :], dim=1)
        g = -eps * torch.logsumexp((f[:, None] - cost) / eps + log_mu[:, None], dim=0)
    plan = torch.exp((f[:, None] + g[None, :] - cost) / eps + log_mu[:, None] + log_nu[None, :])
    return (plan * cost).sum()


def sinkhorn_divergence(a: torch.Tensor, b: torch.Tensor, *, eps: float = 0.1, iters: int = 50) -> torch.Tensor:
    """Debiased Sinkhorn divergence (Genevay et al., AISTATS 2018): OT(a,b) − ½OT(a,a) − ½OT(b,b)."""
    return _entropic_ot(a, b, eps, iters) - 0.5 * _entropic_ot(a, a, eps, iters) - 0.5 * _entropic_ot(b, b, eps, iters)


def gaussian_kl(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """KL(N(μ_a, diag σ_a²) ‖ N(μ_b, diag σ_b²)) from samples a (n, D), b (m, D)."""
    mu_a, var_a = a.mean(0), a.var(0) + 1e-4
    mu_b, var_b = b.mean(0), b.var(0) + 1e-4
    return 0.5 * (torch.log(var_b / var_a) + (var_a + (mu_a - mu_b).pow(2)) / var_b - 1).sum()
