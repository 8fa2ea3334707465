"""Dynamic Compression Flows (Wei, de Albuquerque, Martinez, Pan, Pearson 2026; docs/papers.md §1, talk slides).

Data x^(1) ∈ R^D (τ = 1) and its compressed version x^(0) (τ = 0), both in R^D:

- encoder target  x^(0) = b + L D^{1/2} μ_ψ(x^(1))   (L: orthonormal columns from a non-pivoted QR of a free
  matrix; D = diag(d_i), d_i = softplus > 0; μ_ψ normalised per dimension with running (EMA) mean / std);
- nested dropout  K ~ Geom(p) truncated to [1, d], m_K(i) = 1{i ≤ K}, x^(0,K) = b + L D^{1/2} (m_K ⊙ μ_ψ);
- compressive flow u_φ(x^(τ), τ) on the bridge x^(τ) = (1 − τ) x^(0) + τ x^(1), target u* = x^(1) − x^(0);
- dynamical flow  v_θ(x, τ, s, x_hist^(τ)) with x = (1 − s) x^(τ)_k + s x^(τ)_{k+1},
  target v* = (x^(τ)_{k+1} − x^(τ)_k) / Δt, x_hist = the previous h frames at level τ;
- loss L = α L_cf + β L_df + η L_align, L_align = E ||x^(1) − x^(0,K)||².

Squared norms are averaged over the D coordinates instead of summed: the three terms all live in R^D, so this
rescales L by 1/D (a learning-rate change) and leaves α : β : η as in the paper.

Readouts: "flowed" latents integrate u_φ from τ = 1 to 0 for every frame; "simulated" latents compress the
first h + 1 frames and integrate v_θ at fixed τ = 0; μ̃ = (L D^{1/2})^+ (x̃^(0) − b). K_eff = the smallest K
with Σ_{i≤K} d_i ≥ 0.95 Σ d_i.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from neurodyn import rehearsal
from neurodyn.models.dcf.nets import ConvEncoder, MLPEncoder, MLPField, UNetField


def truncated_geometric(n: int, p: float, d: int, gen: torch.Generator | None = None, device=None) -> torch.Tensor:
    """K ~ Geom(p) on {1, 2, ...} conditioned on K ≤ d, by inverting the truncated CDF. Returns (n,) int64."""
    if p >= 1.0:
        return torch.ones(n, dtype=torch.long, device=device)
    u = torch.rand(n, generator=gen).to(device)
    q = 1.0 - p
    tail = 1.0 - q**d  # P(K ≤ d)
    k = 1 + torch.floor(torch.log1p(-u * tail) / math.log(q))
    return k.clamp(1, d).long()


def nested_dropout_p(step: int, *, p: float, ramp_steps: int, p_start: float = 1.0) -> float:
    """The Geom parameter at ``step``: constant p, or (``ramp_steps`` > 0, the public code's option) a linear
    ramp from ``p_start`` to ``p`` over the first ``ramp_steps`` steps."""
    if ramp_steps <= 0 or step >= ramp_steps:
        return p
    return p_start + (p - p_start) * step / ramp_steps


def effective_dimension(d: torch.Tensor, fraction: float = 0.95) -> int:
    """K_eff: smallest K with Σ_{i≤K} d_i ≥ fraction · Σ_i d_i (d in latent order). d: (n,)."""
    c = torch.cumsum(d.double(), 0)
    return int(torch.searchsorted(c, fraction * c[-1] * (1 - 1e-12)).item()) + 1


class RunningNorm(nn.Module):
    """Per-dimension normalisation with bias-corrected EMA mean / variance (updated in training mode)."""

    def __init__(self, dim: int, momentum: float):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("var", torch.ones(dim))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                m = self.momentum
                self.mean.mul_(1 - m).add_(m * z.mean(0))
                self.var.mul_(1 - m).add_(m * z.var(0, unbiased=False))
                self.count += 1
        corr = 1 - (1 - self.momentum) ** max(int(self.count), 1)
        if self.count == 0:
            return z
        mean = self.mean / corr
        # the variance EMA started at 1, not 0: remove that start's weight before correcting
        var = (self.var - (1 - corr)) / corr
        return (z - mean) / torch.sqrt(var.clamp_min(1e-6))


class DCF(nn.Module):
    """Coupled compressive and dynamical flows with a nested-dropout linear-Gaussian compression target.

    Keyword-only construction from a config slice with :meth:`from_config`. All data tensors are flat:
    frames (B, D), windows (B, h + 2, D); ``image_shape`` (C, H, W) switches to conv nets.
    """

    def __init__(
        self,
        *,
        dim: int,
        latent_dim: int,
        history: int,
        image_shape: tuple[int, int, int] | None,
        encoder: Mapping[str, Any],
        flows: Mapping[str, Any],
        norm_momentum: float,
        dt: float,
        cfm_sigma: float,
        detach_flow_targets: bool,
        loss_weights: Mapping[str, float],
        d_init: float,
    ):
        super().__init__()
        self.dim, self.latent_dim, self.history = dim, latent_dim, history
        self.image_shape = tuple(image_shape) if image_shape else None
        self.dt, self.cfm_sigma, self.detach_flow_targets = dt, cfm_sigma, detach_flow_targets
        self.alpha, self.beta, self.eta = loss_weights["alpha"], loss_weights["beta"], loss_weights["eta"]
        if self.image_shape:
            self.encoder = ConvEncoder(image_shape=self.image_shape, latent_dim=latent_dim, channels=list(encoder["channels"]), width=encoder["width"])
            self.u = UNetField(image_shape=self.image_shape, n_cond=1, history=0, channels=list(flows["channels"]))
            self.v = UNetField(image_shape=self.image_shape, n_cond=2, history=history, channels=list(flows["channels"]))
        else:
            self.encoder = MLPEncoder(dim=dim, latent_dim=latent_dim, width=encoder["width"], depth=encoder["depth"])
            self.u = MLPField(dim=dim, n_cond=1, hist_dim=0, width=flows["width"], depth=flows["depth"])
            self.v = MLPField(dim=dim, n_cond=2, hist_dim=history * dim, width=flows["width"], depth=flows["depth"])
        self.norm = RunningNorm(latent_dim, norm_momentum)
        self.b = nn.Parameter(torch.zeros(dim))
        # a free matrix whose QR factor is L; initialised orthonormal so early training is well conditioned
        self.A = nn.Parameter(torch.linalg.qr(torch.randn(dim, latent_dim))[0])
        # d_i start small: a dimension earns its variance through L_align instead of having to shed it
        self.d_raw = nn.Parameter(torch.full((latent_dim,), math.log(math.expm1(d_init))))

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, dim: int, image_shape=None) -> "DCF":
        return cls(
            dim=dim,
            latent_dim=min(int(cfg["latent_dim"]), dim),
            history=int(cfg["history"]),
            image_shape=image_shape,
            encoder=cfg["encoder"],
            flows=cfg["flows"],
            norm_momentum=float(cfg["norm_momentum"]),
            dt=float(cfg["dt"]),
            cfm_sigma=float(cfg["cfm_sigma"]),
            detach_flow_targets=bool(cfg["detach_flow_targets"]),
            loss_weights=cfg["loss_weights"],
            d_init=float(cfg["d_init"]),
        )

    # -- the compression target ------------------------------------------------------------------------------
    def loading(self) -> torch.Tensor:
        """L (D, d): orthonormal columns, the Q of a non-pivoted QR of A with sign(diag R) > 0 (unique, smooth)."""
        q, r = torch.linalg.qr(self.A, mode="reduced")
        sign = torch.sign(torch.diagonal(r))
        sign = torch.where(sign == 0, torch.ones_like(sign), sign)
        return q * sign

    def scales(self) -> torch.Tensor:
        """d_i > 0, (d,)."""
        return nn.functional.softplus(self.d_raw) + 1e-6

    def mu(self, x1: torch.Tensor) -> torch.Tensor:
        """Normalised encoder means μ_ψ(x^(1)): (B, D) -> (B, d)."""
        return self.norm(self.encoder(x1))

    def target(self, mu: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x^(0) = b + L D^{1/2} (m ⊙ μ): (..., d) -> (..., D)."""
        z = mu * torch.sqrt(self.scales())
        if mask is not None:
            z = z * mask
        return self.b + z @ self.loading().T

    def latents_from_x0(self, x0: torch.Tensor) -> torch.Tensor:
        """μ̃ = (L D^{1/2})^+ (x^(0) − b) = D^{-1/2} L^T (x^(0) − b): (..., D) -> (..., d)."""
        return ((x0 - self.b) @ self.loading()) / torch.sqrt(self.scales())

    def k_eff(self, fraction: float = 0.95) -> int:
        return effective_dimension(self.scales().detach(), fraction)

    # -- training --------------------------------------------------------------------------------------------
    def losses(self, seq: torch.Tensor, *, p: float, gen: torch.Generator) -> dict[str, torch.Tensor]:
        """seq: (B, h + 2, D) windows x^(1)_{k-h..k+1}. Returns loss, cf, df, align (scalars)."""
        bsz, width, dim = seq.shape
        h = self.history
        dev = seq.device
        mu = self.mu(seq.reshape(bsz * width, dim)).reshape(bsz, width, -1)
        x0 = self.target(mu)
        x0_flow = x0.detach() if self.detach_flow_targets else x0
        tau = torch.rand(bsz, 1, 1, generator=gen).to(dev)
        xt = (1 - tau) * x0_flow + tau * seq
        if self.cfm_sigma > 0:
            xt = xt + self.cfm_sigma * torch.randn(xt.shape, generator=gen).to(dev)
        # compressive flow on frames k and k+1
        tau2 = tau[:, 0].repeat(2, 1)
        xt_cf = xt[:, h : h + 2].transpose(0, 1).reshape(2 * bsz, dim)
        u_star = (seq - x0_flow)[:, h : h + 2].transpose(0, 1).reshape(2 * bsz, dim)
        l_cf = ((self.u(xt_cf, tau2) - u_star) ** 2).mean()
        # dynamical flow between frames k and k+1 at level tau, with the h previous frames at the same level
        s = torch.rand(bsz, 1, generator=gen).to(dev)
        xk, xk1 = xt[:, h], xt[:, h + 1]
        x = (1 - s) * xk + s * xk1
        v_star = (xk1 - xk) / self.dt
        hist = xt[:, :h].reshape(bsz, h * dim) if h else None
        l_df = ((self.v(x, torch.cat([tau[:, 0], s], 1), hist) - v_star) ** 2).mean()
        # nested-dropout alignment of the masked target with the data (frame k)
        k = truncated_geometric(bsz, p, self.latent_dim, gen, dev)
        mask = (torch.arange(self.latent_dim, device=dev)[None] < k[:, None]).float()
        l_align = ((seq[:, h] - self.target(mu[:, h], mask)) ** 2).mean()
        loss = self.alpha * l_cf + self.beta * l_df + self.eta * l_align
        return {"loss": loss, "cf": l_cf, "df": l_df, "align": l_align}

    # -- readouts --------------------------------------------------------------------------------------------
    def flow(self, x: torch.Tensor, tau_from: float, tau_to: float, ode: Mapping[str, Any]) -> torch.Tensor:
        """Integrate dx/dτ = u_φ(x, τ) from ``tau_from`` to ``tau_to`` (adaptive solver from ``ode``). (B, D)."""
        from torchdiffeq import odeint

        def f(t, y):
            return self.u(y, t.reshape(1, 1).expand(y.shape[0], 1).to(y))

        ts = torch.tensor([tau_from, tau_to], dtype=x.dtype, device=x.device)
        return odeint(f, x, ts, **_ode_kwargs(ode))[-1]

    def step(self, x: torch.Tensor, hist: torch.Tensor | None, tau: float, ode: Mapping[str, Any]) -> torch.Tensor:
        """One step of the dynamical flow at level τ: integrate dx/ds = Δt · v_θ(x, τ, s, hist) for s ∈ [0, 1]."""
        from torchdiffeq import odeint

        def f(t, y):
            cond = torch.cat([torch.full((y.shape[0], 1), tau, dtype=y.dtype, device=y.device), t.reshape(1, 1).expand(y.shape[0], 1).to(y)], 1)
            return self.dt * self.v(y, cond, hist)

        ts = torch.tensor([0.0, 1.0], dtype=x.dtype, device=x.device)
        return odeint(f, x, ts, **_ode_kwargs(ode))[-1]

    @torch.no_grad()
    def encoder_latents(self, x1: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """(N, D) -> (N, d) normalised encoder means."""
        return torch.cat([self.mu(c) for c in x1.split(chunk)])

    @torch.no_grad()
    def flowed(self, x1: torch.Tensor, ode: Mapping[str, Any], chunk: int = 4096) -> torch.Tensor:
        """x̃^(0) of every frame: (N, D) -> (N, D)."""
        return self.flow_chunks(x1, 1.0, 0.0, ode, chunk)

    @torch.no_grad()
    def flow_chunks(self, x: torch.Tensor, tau_from: float, tau_to: float, ode: Mapping[str, Any], chunk: int = 4096) -> torch.Tensor:
        """``flow`` of (N, D) frames, ``chunk`` rows per solve. One solve over all rows holds every dopri5 stage
        of every row (5.4 GB at MC_Maze's 78,900 frames) and shares one step size between them, so is no faster."""
        return torch.cat([self.flow(c, tau_from, tau_to, ode) for c in x.split(chunk)]) if len(x) else x

    @torch.no_grad()
    def simulate(self, seed_frames: torch.Tensor, n_steps: int, ode: Mapping[str, Any], tau: float = 0.0) -> torch.Tensor:
        """Compress the first h + 1 frames to level τ, then roll the dynamical flow forward.

        seed_frames: (B, h + 1, D) data frames; returns (B, n_steps, D) at level τ (the seed frames included).
        """
        bsz, n_seed, dim = seed_frames.shape
        h = self.history
        states = self.flow_chunks(seed_frames.reshape(bsz * n_seed, dim), 1.0, tau, ode).reshape(bsz, n_seed, dim)
        traj = list(states.unbind(1))
        while len(traj) < n_steps:
            hist = torch.stack(traj[-1 - h : -1], 1).reshape(bsz, h * dim) if h else None
            traj.append(self.step(traj[-1], hist, tau, ode))
        return torch.stack(traj[:n_steps], 1)


def _ode_kwargs(ode: Mapping[str, Any]) -> dict[str, Any]:
    cap = rehearsal.max_steps()
    if cap is not None:
        # a rehearsal caps every solve like every loop: `cap` Euler steps (one field evaluation each) per unit of
        # time (each flow and each dynamical step spans at most 1), the same shapes through the same fields.
        # Untrained adaptive solves are the readouts' whole cost on a CPU (dopri5: 460 CPU-s per MC_Maze seed,
        # 2026-12-02; the ball's U-Nets did not finish in 13 min).
        return {"method": "euler", "options": {"step_size": 1.0 / cap}}
    kwargs: dict[str, Any] = {"method": ode["method"]}
    if ode["method"] in ("dopri5", "dopri8", "bosh3", "adaptive_heun"):
        kwargs.update(rtol=ode["rtol"], atol=ode["atol"], options={"max_num_steps": int(ode["max_num_steps"])})
    else:
        kwargs["options"] = {"step_size": float(ode["step_size"])}
    return kwargs
