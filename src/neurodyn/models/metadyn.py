"""Meta-Dynamical State Space Model (Vermani, Nassar, Jeon, Dowling, Park; ICLR 2025, arXiv 2410.05454).

Generative model for dataset d with trials y_{1:T} ∈ R^{N_d} (docs/papers.md §3):

    e_d ~ N(0, I)                                                     dynamical embedding, e ∈ R^{d_e}
    z_1 ~ N(m_0, diag P_0)                                            initial condition
    z_{t+1} ~ N(f_θ(z_t; e_d), diag Q),   f_θ(z; e) = z + MLP_{W + ΔW(e)}(z)
    ΔW_l(e) = U_l(e) V_l(e)ᵀ,  U_l ∈ R^{out_l × r}, V_l ∈ R^{in_l × r}  rank-r hypernetwork change of every layer
    y_t ~ N(C_d z_t + b_d, diag σ_d²)   or   Poisson(exp(C_d z_t + b_d))  per-dataset readout

Inference (amortised, shared across datasets after the per-dataset read-in x_t = R_d(y_t) ∈ R^{D}):

    q(e_d | Y_d) = N(μ_e, diag σ_e²)  from a temporal-convolution summary of each trial (local features such as the
                                      speed of the trajectory), averaged over the dataset's trials (paper eq. 7)
    q(z_{1:T} | x, e) = Π_t N(μ_t, diag σ_t²)   DKF with a bidirectional GRU over [x_t, e] (Krishnan et al. 2017,
                                      the "MF-LR" variant): every bin's posterior is computed at once, so the
                                      training step has no Python loop over time

ELBO per dataset (the paper's eq. for the joint objective):
    Σ_trials [ Σ_t E_q log p(y_t | z_t) − KL(q(z_1)‖p(z_1)) − Σ_{t>1} E_{q(z_{t−1})} KL(q(z_t)‖p(z_t | z_{t−1}, e)) ]
    − KL(q(e_d)‖p(e_d))

(for a factorised q the transition term is exactly this expectation; it is estimated with the sample of z_{t−1},
and all T − 1 transitions go through the dynamics in one batched call).

``conditioning`` selects the baselines of the issue with the same code: ``hyper`` (the paper), ``input``
(the embedding concatenated to the dynamics MLP's input, no hypernetwork) and ``none`` (one shared dynamics,
no embedding; with a single dataset it is the single-dataset baseline).
"""

from __future__ import annotations

import math
from typing import Any
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from neurodyn.metrics.glm import poisson_glm_newton

CONDITIONINGS = ("hyper", "input", "none")
LIKELIHOODS = ("gaussian", "poisson")


@dataclass
class Batch:
    """One dataset's trials: y (B, T, N) observations or counts, lengths (B,) valid bins from the start."""

    dataset: int
    y: torch.Tensor
    lengths: torch.Tensor
    n_total: int  # trials of this dataset the batch stands for (ELBO scaling)


def gaussian_kl(mu_q: torch.Tensor, lv_q: torch.Tensor, mu_p: torch.Tensor, lv_p: torch.Tensor) -> torch.Tensor:
    """KL(N(mu_q, e^lv_q) ‖ N(mu_p, e^lv_p)) summed over the last dim."""
    return 0.5 * (lv_p - lv_q + (lv_q.exp() + (mu_q - mu_p) ** 2) / lv_p.exp() - 1.0).sum(-1)


class LowRankHyperDynamics(nn.Module):
    """f(z; e) = z + W2' tanh(W1' z + b1) + b2 with W_l' = W_l + U_l(e) V_l(e)ᵀ (rank r), or e as extra input."""

    def __init__(self, *, latent_dim: int, hidden: int, embed_dim: int, rank: int, hyper_hidden: int, conditioning: str):
        super().__init__()
        self.conditioning, self.rank = conditioning, rank
        in_dim = latent_dim + (embed_dim if conditioning == "input" else 0)
        self.layer1 = nn.Linear(in_dim, hidden)
        self.layer2 = nn.Linear(hidden, latent_dim)
        nn.init.normal_(self.layer2.weight, std=0.01)  # start near the identity map: a stable initial dynamics
        nn.init.zeros_(self.layer2.bias)
        self.shapes = [(hidden, latent_dim), (latent_dim, hidden)]  # (out, in) of each layer
        if conditioning == "hyper":
            n_out = sum(rank * (o + i) for o, i in self.shapes)
            self.hyper = nn.Sequential(nn.Linear(embed_dim, hyper_hidden), nn.Tanh(), nn.Linear(hyper_hidden, n_out))
            # ΔW = U Vᵀ is a product: with U and V both near zero its gradient vanishes too, and training settles
            # on one shared dynamics that ignores e. A random e-independent part of U and V (the output bias; its
            # product only shifts the base weights) gives the e-dependent part a gradient from the first step.
            nn.init.normal_(self.hyper[2].weight, std=0.1 / math.sqrt(hyper_hidden))
            nn.init.normal_(self.hyper[2].bias, std=0.3)

    def factors(self, e: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """e (B, d_e) → per layer (U (B, out, r), V (B, in, r))."""
        flat = self.hyper(e)
        out, pos = [], 0
        for o, i in self.shapes:
            u = flat[:, pos : pos + o * self.rank].reshape(-1, o, self.rank)
            pos += o * self.rank
            v = flat[:, pos : pos + i * self.rank].reshape(-1, i, self.rank)
            pos += i * self.rank
            out.append((u, v))
        return out

    def delta_weights(self, e: torch.Tensor) -> list[torch.Tensor]:
        """ΔW_l(e) (B, out, in) — materialised only for inspection (tests, figures)."""
        return [u @ v.transpose(1, 2) for u, v in self.factors(e)]

    def prepare(self, e: torch.Tensor | None):
        """Per-sequence context, computed once and reused at every time step."""
        if self.conditioning == "hyper":
            return self.factors(e)
        return e

    def forward(self, z: torch.Tensor, ctx) -> torch.Tensor:
        """z (B, T, d_z) → mean of z_{t+1} (B, T, d_z); the context is per sequence (B, ·)."""
        if self.conditioning == "input":
            h = torch.tanh(self.layer1(torch.cat([z, ctx[:, None, :].expand(-1, z.shape[1], -1)], -1)))
            return z + self.layer2(h)
        pre = self.layer1(z)
        if self.conditioning == "hyper":
            (u1, v1), (u2, v2) = ctx
            pre = pre + torch.einsum("bor,btr->bto", u1, torch.einsum("bir,bti->btr", v1, z))
        h = torch.tanh(pre)
        out = self.layer2(h)
        if self.conditioning == "hyper":
            out = out + torch.einsum("bor,btr->bto", u2, torch.einsum("bir,bti->btr", v2, h))
        return z + out


def _reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of x (B, T, ·) within its own length (padding stays at the end)."""
    T = x.shape[1]
    t = torch.arange(T, device=x.device)[None, :]
    idx = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
    return torch.gather(x, 1, idx[..., None].expand_as(x))


class MetaDynamicalSSM(nn.Module):
    """All datasets' read-ins/readouts plus the shared dynamics, hypernetwork and encoders (see module doc)."""

    def __init__(
        self,
        *,
        n_channels: Sequence[int],
        likelihood: str,
        latent_dim: int,
        shared_dim: int,
        dyn_hidden: int,
        embed_dim: int,
        rank: int,
        hyper_hidden: int,
        enc_hidden: int,
        conditioning: str,
        init_process_std: float = 0.1,
        embed_kernel: int = 5,
    ):
        super().__init__()
        if conditioning not in CONDITIONINGS or likelihood not in LIKELIHOODS:
            raise ValueError(f"conditioning in {CONDITIONINGS}, likelihood in {LIKELIHOODS}")
        self.likelihood, self.conditioning = likelihood, conditioning
        self.latent_dim, self.shared_dim = latent_dim, shared_dim
        self.embed_dim = embed_dim if conditioning != "none" else 0
        self.readins = nn.ModuleList()
        self.readouts = nn.ModuleList()
        self.obs_logstd = nn.ParameterList()
        for n in n_channels:
            self.add_dataset(n)
        self.dynamics = LowRankHyperDynamics(
            latent_dim=latent_dim, hidden=dyn_hidden, embed_dim=max(self.embed_dim, 1), rank=rank,
            hyper_hidden=hyper_hidden, conditioning=conditioning,
        )
        if self.embed_dim:
            # ELU, not tanh: Adam moves every weight by ~lr per step, and a tanh summary saturated within a few
            # dozen steps — every dataset then got the same e and the model fell back to one shared dynamics
            k = embed_kernel
            self.embed_conv = nn.Sequential(
                nn.Conv1d(shared_dim, enc_hidden, k, padding=k // 2), nn.ELU(),
                nn.Conv1d(enc_hidden, enc_hidden, k, padding=k // 2), nn.ELU(),
            )
            self.embed_head = nn.Linear(enc_hidden, 2 * self.embed_dim)
        self.enc_fwd = nn.GRU(shared_dim + self.embed_dim, enc_hidden, batch_first=True)
        self.enc_bwd = nn.GRU(shared_dim + self.embed_dim, enc_hidden, batch_first=True)
        self.post_head = nn.Linear(2 * enc_hidden, 2 * latent_dim)
        self.prior_mean0 = nn.Parameter(torch.zeros(latent_dim))
        self.prior_logvar0 = nn.Parameter(torch.zeros(latent_dim))
        self.process_logvar = nn.Parameter(torch.full((latent_dim,), 2 * math.log(init_process_std)))
        # where the pretraining datasets' read-in outputs lie (record_shared_space); zero until recorded
        self.register_buffer("shared_mean", torch.zeros(shared_dim))
        self.register_buffer("shared_basis", torch.zeros(latent_dim, shared_dim))

    # -- per-dataset parts ---------------------------------------------------------------------------------
    def add_dataset(self, n_channels: int) -> int:
        """A new read-in/readout pair (few-shot transfer fits only these); returns its dataset index."""
        self.readins.append(nn.Linear(n_channels, self.shared_dim))
        self.readouts.append(nn.Linear(self.latent_dim, n_channels))
        self.obs_logstd.append(nn.Parameter(torch.full((n_channels,), math.log(0.5))))
        return len(self.readins) - 1

    @staticmethod
    def _principal_plane(xs: Sequence[torch.Tensor], k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Trials xs (each (B_i, T_i, N), lengths may differ) → mean (N,), whitened leading components (k', N),
        unit components (k', N), their sd (k',).

        A linear map cannot tell a latent trajectory from its mirror image, so every dataset would otherwise
        settle on its own sense of rotation and the embedding would have to encode it as well as the speed; the
        second component is flipped so that the leading plane turns counter-clockwise on average — one
        convention for every dataset, pretraining and few-shot alike (and for the shared space, see
        :meth:`record_shared_space`).
        """
        flat = torch.cat([x.reshape(-1, x.shape[-1]) for x in xs])
        mean = flat.mean(0)
        _, s, vt = torch.linalg.svd(flat - mean, full_matrices=False)
        k = min(k, vt.shape[0])
        vt = vt[:k].clone()
        scale = s[:k] / math.sqrt(max(flat.shape[0] - 1, 1)) + 1e-6  # sd of each component
        if k >= 2:
            turn = 0.0
            for x in xs:
                z = ((x - mean) @ vt[:2].T)
                turn += float((z[:, :-1, 0] * z[:, 1:, 1] - z[:, :-1, 1] * z[:, 1:, 0]).sum())
            if turn < 0:
                vt[1] = -vt[1]
        return mean, vt / scale[:, None], vt, scale

    @torch.no_grad()
    def init_dataset(self, d: int, y: torch.Tensor) -> None:
        """Start dataset d's read-in/readout from its principal subspace: y (B, T, N) training trials.

        The read-in's first d_z outputs are the whitened leading principal components (oriented as in
        :meth:`_principal_plane`; the rest start small), the readout maps them back (Gaussian: loadings and mean;
        Poisson: log mean rate and small loadings).
        """
        y = y.float()
        x = torch.log1p(y) if self.likelihood == "poisson" else y
        N = x.shape[-1]
        flat = x.reshape(-1, N)
        mean, comps, vt, scale = self._principal_plane([x], self.latent_dim)
        k = comps.shape[0]
        readin = self.readins[d]
        readin.weight.mul_(0.1)
        readin.weight[:k] = comps
        readin.bias.copy_(-(readin.weight @ mean))
        readout = self.readouts[d]
        readout.weight.zero_()
        if self.likelihood == "gaussian":
            readout.weight[:, :k] = (vt * scale[:, None]).T
            readout.bias.copy_(mean)
            resid = flat - mean - (flat - mean) @ vt.T @ vt
            self.obs_logstd[d].copy_(resid.std(0).clamp(min=1e-2).log())
        else:
            readout.weight[:, :k] = 0.1 * vt.T
            readout.bias.copy_(y.reshape(-1, N).mean(0).clamp(min=1e-3).log())

    @torch.no_grad()
    def record_shared_space(self, batches: Sequence[tuple[int, torch.Tensor]]) -> None:
        """Remember where the pretraining datasets live in the shared space, for :meth:`init_transfer`.

        batches: (dataset index, y (B, T, N_d)) of each pretraining dataset's training trials. Stores the
        pooled mean (D,) of the read-in outputs and their d_z leading principal directions scaled by their sd
        (d_z, D), oriented like every dataset's own plane (:meth:`_principal_plane`).
        """
        mean, _, vt, scale = self._principal_plane([self.read_in(d, y.float()) for d, y in batches], self.latent_dim)
        self.shared_mean.copy_(mean)
        self.shared_basis.zero_()
        self.shared_basis[: vt.shape[0]] = vt * scale[:, None]

    @torch.no_grad()
    def init_transfer(self, d: int, y: torch.Tensor) -> None:
        """Start a new dataset's read-in/readout where the frozen pretrained encoders expect it: y (k, T, N).

        Few-shot transfer fits only these two maps through frozen nonlinear encoders (Vermani et al. 2025,
        §4.3); started from the dataset's own principal components (:meth:`init_dataset`) the read-in output
        lies where no pretraining dataset did, and 1-trial fits diverged (e driven to −100, forecast r² ≪ 0).
        Here the read-in sends the dataset's whitened, oriented principal plane onto the pretraining datasets'
        shared-space plane with its mean and spread (:meth:`record_shared_space`), and the readout starts as
        the regression of y on the posterior-mean latents the frozen encoders then infer (least squares for
        Gaussian data, a Poisson GLM by Newton's method for counts), so training starts near a good optimum.
        """
        if not bool(self.shared_basis.abs().sum() > 0):  # a checkpoint without the record: principal init
            self.init_dataset(d, y)
            return
        y = y.float()
        x = torch.log1p(y) if self.likelihood == "poisson" else y
        mean, comps, _, _ = self._principal_plane([x], self.latent_dim)
        readin = self.readins[d]
        readin.weight.copy_(self.shared_basis[: comps.shape[0]].T @ comps)
        readin.bias.copy_(self.shared_mean - readin.weight @ mean)
        lengths = torch.full((y.shape[0],), y.shape[1], dtype=torch.long, device=y.device)
        e = self.embedding_posterior(d, y, lengths)[0] if self.embed_dim else None
        z = self.smooth(d, y, lengths, e).reshape(-1, self.latent_dim)
        design = torch.cat([z, torch.ones_like(z[:, :1])], 1)  # (n, d_z + 1)
        target = y.reshape(-1, y.shape[-1])
        if self.likelihood == "gaussian":
            gram = design.T @ design
            ridge = 1e-6 * gram.diagonal().mean() * torch.eye(gram.shape[0], device=y.device, dtype=y.dtype)  # safety only
            beta = torch.linalg.solve(gram + ridge, design.T @ target)  # (d_z + 1, N)
            self.obs_logstd[d].copy_((target - design @ beta).std(0).clamp(min=1e-2).log())
        else:
            beta = poisson_glm_newton(design, target)
        self.readouts[d].weight.copy_(beta[:-1].T)
        self.readouts[d].bias.copy_(beta[-1])

    def load_pretrained(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Strict ``load_state_dict`` that also accepts checkpoints written before the shared-space record (their
        transfers start from the principal components, :meth:`init_transfer`)."""
        self.load_state_dict({"shared_mean": self.shared_mean, "shared_basis": self.shared_basis, **state_dict})

    def dataset_parameters(self, d: int) -> list[nn.Parameter]:
        return [*self.readins[d].parameters(), *self.readouts[d].parameters(), self.obs_logstd[d]]

    def read_in(self, d: int, y: torch.Tensor) -> torch.Tensor:
        """y (B, T, N_d) → x (B, T, D); counts enter as log1p so that bursts do not dominate."""
        if self.likelihood == "poisson":
            y = torch.log1p(y)
        return self.readins[d](y)

    def predict(self, d: int, z: torch.Tensor) -> torch.Tensor:
        """z (…, d_z) → observation mean (Gaussian) or expected count per bin (Poisson) (…, N_d)."""
        eta = self.readouts[d](z)
        return eta.exp() if self.likelihood == "poisson" else eta

    def log_likelihood(self, d: int, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(y_t | z_t) summed over channels: (B, T)."""
        eta = self.readouts[d](z)
        if self.likelihood == "poisson":
            return (y * eta - eta.exp() - torch.lgamma(y + 1)).sum(-1)
        logstd = self.obs_logstd[d]
        return (-0.5 * ((y - eta) / logstd.exp()) ** 2 - logstd - 0.5 * math.log(2 * math.pi)).sum(-1)

    # -- inference -----------------------------------------------------------------------------------------
    def _embed_stats(self, xs: Sequence[torch.Tensor], lens: Sequence[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Read-in trials of several datasets (each (B_d, T, D)) → per dataset (mean, log-variance) of q(e)."""
        h = self.embed_conv(torch.cat(list(xs)).transpose(1, 2)).transpose(1, 2)  # (ΣB, T, H), one call for all
        lengths = torch.cat(list(lens))
        mask = (torch.arange(h.shape[1], device=h.device)[None, :] < lengths[:, None]).float()
        per_trial = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        out, start = [], 0
        for x in xs:
            stats = self.embed_head(per_trial[start : start + x.shape[0]].mean(0))
            out.append((stats[: self.embed_dim], stats[self.embed_dim :].clamp(-10, 5)))
            start += x.shape[0]
        return out

    def embedding_posterior(self, d: int, y: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(e | trials of dataset d): mean and log-variance (d_e,), pooled over the given trials (paper eq. 7)."""
        return self._embed_stats([self.read_in(d, y)], [lengths])[0]

    def posterior(
        self, x: torch.Tensor, lengths: torch.Tensor, e: torch.Tensor | None, *, sample: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior over z given read-in data x (B, T, D) and e (B, d_e), all bins at once.

        Returns z (B, T, d_z) (a sample, or the means when ``sample`` is False) and the per-bin KL (B, T)
        between q(z_t) and the prior p(z_t | z_{t−1}, e) at the sampled z_{t−1} (p(z_1) at t = 1).
        """
        B, T, _ = x.shape
        inp = torch.cat([x, e[:, None, :].expand(B, T, -1)], -1) if self.embed_dim else x
        g_f, _ = self.enc_fwd(inp)
        g_b, _ = self.enc_bwd(_reverse_padded(inp, lengths))
        stats = self.post_head(torch.cat([g_f, _reverse_padded(g_b, lengths)], -1))
        mu_q, lv_q = stats[..., : self.latent_dim], stats[..., self.latent_dim :].clamp(-12, 4)
        z = mu_q + (0.5 * lv_q).exp() * torch.randn_like(mu_q) if sample else mu_q
        ctx = self.dynamics.prepare(e)
        mu_p = torch.cat([self.prior_mean0.expand(B, 1, -1), self.dynamics(z[:, :-1], ctx)], 1)
        lv_p = torch.cat([self.prior_logvar0[None], self.process_logvar[None].expand(T - 1, -1)])[None]
        return z, gaussian_kl(mu_q, lv_q, mu_p, lv_p)

    def elbo_loss(self, batches: Sequence[Batch], *, kl_weight: float = 1.0) -> dict[str, torch.Tensor]:
        """Negative ELBO per observed bin over several datasets at once (one dynamics pass for all)."""
        T = max(b.y.shape[1] for b in batches)
        xs = [F.pad(self.read_in(b.dataset, b.y), (0, 0, 0, T - b.y.shape[1])) for b in batches]
        lens = [b.lengths for b in batches]
        es, kl_e = [], []
        if self.embed_dim:
            # one GRU call for every dataset's trials, then pooled per dataset (q(e | dataset), paper eq. 7)
            stats = self._embed_stats(xs, lens)
            for b, (mu, lv) in zip(batches, stats):
                e = mu + (0.5 * lv).exp() * torch.randn_like(mu)
                es.append(e[None].expand(b.y.shape[0], -1))
                kl_e.append(gaussian_kl(mu, lv, torch.zeros_like(mu), torch.zeros_like(lv)))
        else:
            es = [x.new_zeros(x.shape[0], 0) for x in xs]
            kl_e = [xs[0].new_zeros(()) for _ in xs]
        lengths = torch.cat(lens)
        z, kl = self.posterior(torch.cat(xs), lengths, torch.cat(es), sample=True)
        total_ll, total_kl, total_kle, n_bins = 0.0, 0.0, 0.0, 0.0
        start = 0
        for b, kle in zip(batches, kl_e):
            n = b.y.shape[0]
            Tb = b.y.shape[1]
            mask = (torch.arange(Tb, device=z.device)[None, :] < b.lengths[:, None]).float()
            scale = b.n_total / n
            total_ll = total_ll + scale * (self.log_likelihood(b.dataset, b.y, z[start : start + n, :Tb]) * mask).sum()
            total_kl = total_kl + scale * (kl[start : start + n, :Tb] * mask).sum()
            total_kle = total_kle + kle
            n_bins += b.n_total * float(b.lengths.float().mean())
            start += n
        loss = -(total_ll - kl_weight * (total_kl + total_kle)) / n_bins
        return {"loss": loss, "ll_per_bin": total_ll / n_bins, "kl_per_bin": total_kl / n_bins, "kl_e": total_kle}

    # -- evaluation ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def predict_mean(self, d: int, z: torch.Tensor) -> torch.Tensor:
        return self.predict(d, z)

    @torch.no_grad()
    def smooth(self, d: int, y: torch.Tensor, lengths: torch.Tensor, e: torch.Tensor | None) -> torch.Tensor:
        """Posterior-mean latents (B, T, d_z) of trials y (B, T, N_d) given the dataset's embedding mean e."""
        eb = e[None].expand(y.shape[0], -1) if e is not None else y.new_zeros(y.shape[0], 0)
        z, _ = self.posterior(self.read_in(d, y), lengths, eb, sample=False)
        return z

    @torch.no_grad()
    def rollout(self, z0: torch.Tensor, e: torch.Tensor | None, steps: int) -> torch.Tensor:
        """Noise-free mean dynamics from z0 (B, d_z): (B, steps, d_z) = f(z0), f(f(z0)), …"""
        eb = e[None].expand(z0.shape[0], -1) if e is not None else None
        ctx = self.dynamics.prepare(eb)
        out, z = [], z0[:, None]
        for _ in range(steps):
            z = self.dynamics(z, ctx)
            out.append(z)
        return torch.cat(out, 1)

    @torch.no_grad()
    def forecast(self, d: int, y: torch.Tensor, e: torch.Tensor | None, context: int, horizon: int) -> torch.Tensor:
        """Forecast of the observation means for bins context … context+horizon−1 (B, horizon, N_d).

        The posterior sees only y[:, :context] (so the state at the last context bin is a filtering estimate);
        the mean dynamics are rolled forward ``horizon`` steps from it and mapped through the readout.
        """
        lengths = torch.full((y.shape[0],), context, dtype=torch.long, device=y.device)
        z = self.smooth(d, y[:, :context], lengths, e)
        return self.predict(d, self.rollout(z[:, -1], e, horizon))


def build_model(model_cfg: Mapping[str, Any], n_channels: Sequence[int], likelihood: str, conditioning: str) -> MetaDynamicalSSM:
    """A MetaDynamicalSSM from the config's ``metadyn.model`` block (the keys it reads; the rest are ignored)."""
    keys = ("latent_dim", "shared_dim", "dyn_hidden", "embed_dim", "rank", "hyper_hidden", "enc_hidden", "embed_kernel", "init_process_std")
    return MetaDynamicalSSM(n_channels=list(n_channels), likelihood=likelihood, conditioning=conditioning, **{k: model_cfg[k] for k in keys})
