"""ERDiff's diffusion prior over whole latent trials: a spatio-temporal transformer denoiser trained as a DDPM.

Wang et al., NeurIPS 2023, §3.2 (slides: "Source-domain Diffusion Model (DM) Training"): the denoiser
ε(Z, t; θ): R^{l×d} × R → R^{l×d} is trained by denoising score matching,
    θ_s = argmin E_t E_{Z_0 ~ q(·|X^(s); φ_s), ε ~ N(0, I)} [ w(t)² ‖ε − ε(Z_t, t; θ)‖² ],   Z_t = μ_t Z_0 + K_t ε,
here with the discrete variance-preserving schedule of Ho et al. (NeurIPS 2020): μ_t = √ᾱ_t, K_t = √(1 − ᾱ_t),
w ≡ 1. Architecture (slides: "Spatio-Temporal Transformer Blocks"): every entry Z[i, j] is a token; a spatial
transformer layer attends across the d latent dimensions within each time bin i, then a temporal layer attends
across the l bins of each latent dimension j. ``spatial=False`` / ``temporal=False`` give the paper's ablations
"w/o S" and "w/o T" (Table 1).

Also here: the Hutchinson–Skilling trace estimator (Hutchinson 1989; Skilling 1989) used by the alignment bound.
"""

from __future__ import annotations

import math

import torch
from torch import nn

SCHEDULES = ("linear", "cosine")


class NoiseSchedule(nn.Module):
    """β_1..β_T and ᾱ_t as buffers (so they travel with the denoiser's state_dict and device).

    ``linear``: Ho et al. (2020)'s β from beta_start to beta_end, which they define for T = 1000 steps; for
    another T both ends are scaled by 1000 / T (as Nichol & Dhariwal, ICML 2021, do) so the forward process
    still ends near pure noise — with T = 50 and the unscaled range, ᾱ_T would be 0.60, the prior would never
    see noise levels above the data's own scale, and p_T would be far from π = N(0, I).
    ``cosine``: Nichol & Dhariwal's ᾱ_t (β ≤ 0.999). ``noise_scale`` multiplies every β (the robustness
    sweep's "noise scale").
    """

    def __init__(self, *, steps: int, schedule: str = "linear", beta_start: float = 1e-4, beta_end: float = 0.02, noise_scale: float = 1.0):
        super().__init__()
        if schedule == "linear":
            scale = 1000.0 / steps
            betas = torch.linspace(scale * beta_start, scale * beta_end, steps, dtype=torch.float64)
        elif schedule == "cosine":
            s = 0.008
            t = torch.linspace(0, steps, steps + 1, dtype=torch.float64) / steps
            abar = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
            betas = 1 - abar[1:] / abar[:-1]
        else:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
        betas = (betas * noise_scale).clamp(max=0.999)
        abar = torch.cumprod(1 - betas, dim=0)
        self.steps = steps
        self.register_buffer("betas", betas.float())
        self.register_buffer("alpha_bar", abar.float())

    def noisy(self, z0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Z_t = √ᾱ_t Z_0 + √(1−ᾱ_t) ε; z0, eps (B, l, d); t (B,) integer steps in [0, T)."""
        abar = self.alpha_bar[t].view(-1, 1, 1)
        return abar.sqrt() * z0 + (1 - abar).sqrt() * eps


class _TimeEmbedding(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.width = width
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.width // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / max(half - 1, 1))
        angles = t.float()[:, None] * freqs[None]
        emb = torch.cat([angles.sin(), angles.cos()], dim=-1)
        if emb.shape[-1] < self.width:
            emb = nn.functional.pad(emb, (0, self.width - emb.shape[-1]))
        return self.mlp(emb)


def _layer(width: int, heads: int, ff: int) -> nn.TransformerEncoderLayer:
    return nn.TransformerEncoderLayer(width, heads, ff, dropout=0.0, batch_first=True, norm_first=True)


class STBlock(nn.Module):
    """One spatio-temporal block: spatial attention over latent dims per bin, then temporal attention per dim."""

    def __init__(self, *, width: int, heads: int, ff: int, spatial: bool = True, temporal: bool = True):
        super().__init__()
        self.spatial = _layer(width, heads, ff) if spatial else None
        self.temporal = _layer(width, heads, ff) if temporal else None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h (B, l, d, w) -> (B, l, d, w)."""
        b, l, d, w = h.shape
        if self.spatial is not None:
            h = self.spatial(h.reshape(b * l, d, w)).reshape(b, l, d, w)
        if self.temporal is not None:
            h = self.temporal(h.transpose(1, 2).reshape(b * d, l, w)).reshape(b, d, l, w).transpose(1, 2)
        return h


class STDenoiser(nn.Module):
    """ε(Z, t; θ) with ``blocks`` STBlocks; Z (B, l, d), t (B,) -> ε̂ (B, l, d)."""

    def __init__(
        self,
        *,
        n_bins: int,
        n_latent: int,
        width: int = 32,
        heads: int = 4,
        ff: int = 64,
        blocks: int = 2,
        spatial: bool = True,
        temporal: bool = True,
    ):
        super().__init__()
        if not (spatial or temporal):
            raise ValueError("a denoiser needs spatial or temporal layers")
        self.n_bins, self.n_latent = n_bins, n_latent
        self.embed = nn.Linear(1, width)
        self.pos_time = nn.Parameter(torch.randn(n_bins, 1, width) * 0.02)
        self.pos_dim = nn.Parameter(torch.randn(1, n_latent, width) * 0.02)
        self.time = _TimeEmbedding(width)
        self.blocks = nn.ModuleList(STBlock(width=width, heads=heads, ff=ff, spatial=spatial, temporal=temporal) for _ in range(blocks))
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 1))

    def forward(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = self.embed(z.unsqueeze(-1)) + self.pos_time + self.pos_dim + self.time(t)[:, None, None, :]
        for block in self.blocks:
            h = block(h)
        return self.out(h).squeeze(-1)


class DiffusionPrior(nn.Module):
    """Denoiser + schedule + the latent standardisation it was trained with (all in one state_dict).

    The prior models standardised latents (Z − mean) / std, per latent dimension, computed on the source latents:
    the same map is applied to target latents during alignment, so it is part of the frozen prior.
    """

    def __init__(self, *, n_bins: int, n_latent: int, steps: int, schedule: str, beta_start: float, beta_end: float,
                 noise_scale: float = 1.0, width: int, heads: int, ff: int, blocks: int, spatial: bool = True, temporal: bool = True):
        super().__init__()
        self.schedule = NoiseSchedule(steps=steps, schedule=schedule, beta_start=beta_start, beta_end=beta_end, noise_scale=noise_scale)
        self.denoiser = STDenoiser(n_bins=n_bins, n_latent=n_latent, width=width, heads=heads, ff=ff, blocks=blocks, spatial=spatial, temporal=temporal)
        self.register_buffer("z_mean", torch.zeros(n_latent))
        self.register_buffer("z_std", torch.ones(n_latent))

    def standardise(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.z_mean) / self.z_std

    def dsm_loss(self, z0: torch.Tensor, *, gen: torch.Generator | None = None, reduce: bool = True):
        """Denoising score matching (ε-prediction, w ≡ 1) on standardised latents z0 (B, l, d)."""
        b = z0.shape[0]
        t = _randint(self.schedule.steps, (b,), gen, z0.device)
        eps = _randn(z0.shape, gen, z0.device)
        zt = self.schedule.noisy(z0, t, eps)
        err = (eps - self.denoiser(zt, t)).pow(2).sum(dim=(1, 2))
        return (err.mean() if reduce else err), zt, t

    @torch.no_grad()
    def sample(self, n: int, *, gen: torch.Generator | None = None) -> torch.Tensor:
        """Ancestral DDPM sampling (Ho et al. 2020, Alg. 2) of n standardised trials, (n, l, d)."""
        device = self.z_mean.device
        z = _randn((n, self.denoiser.n_bins, self.denoiser.n_latent), gen, device)
        betas, abar = self.schedule.betas, self.schedule.alpha_bar
        for step in reversed(range(self.schedule.steps)):
            t = torch.full((n,), step, device=device, dtype=torch.long)
            eps = self.denoiser(z, t)
            mean = (z - betas[step] / (1 - abar[step]).sqrt() * eps) / (1 - betas[step]).sqrt()
            if step > 0:
                var = betas[step] * (1 - abar[step - 1]) / (1 - abar[step])
                z = mean + var.sqrt() * _randn(z.shape, gen, device)
            else:
                z = mean
        return z


def _randn(shape, gen, device) -> torch.Tensor:
    if gen is None:
        return torch.randn(shape, device=device)
    return torch.randn(shape, generator=gen).to(device)


def _randint(high, shape, gen, device) -> torch.Tensor:
    if gen is None:
        return torch.randint(0, high, shape, device=device)
    return torch.randint(0, high, shape, generator=gen).to(device)


def hutchinson_divergence(fn, z: torch.Tensor, *, n_samples: int = 1, gen: torch.Generator | None = None,
                          rademacher: bool = True) -> torch.Tensor:
    """Hutchinson–Skilling estimate of ∇_Z · fn(Z) = tr(∂fn/∂Z) per trial: E_v[vᵀ (∂fn/∂Z) v], E[vvᵀ] = I.

    z (B, l, d) -> (B,). Differentiable with respect to z (create_graph), so it can sit inside a loss.
    """
    if not z.requires_grad:
        z = z.detach().requires_grad_(True)
    out = fn(z)
    total = torch.zeros(z.shape[0], device=z.device)
    for _ in range(n_samples):
        v = _randn(z.shape, gen, z.device)
        if rademacher:
            v = torch.sign(v)
        (vjp,) = torch.autograd.grad(out, z, grad_outputs=v, create_graph=True)
        total = total + (vjp * v).sum(dim=(1, 2))
    return total / n_samples
