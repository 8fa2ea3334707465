"""LFADS (Pandarinath et al., Nat. Methods 2018), a small re-implementation for DCF's comparison.

A bidirectional GRU encodes each trial's counts into the posterior of the initial condition
q(g0 | x) = N(μ, σ²); a second bidirectional GRU gives per-step features to a controller GRU, which emits
inferred inputs q(u_t | ·) = N(μ_t, σ_t²) from those features and the previous factors; a generator GRU starts at
W g0 and is driven by u_t; factors f_t = F g_t (``n_factors``, the latents read out for Table 1); rates
λ_t = exp(R f_t + c). Loss: Poisson negative log-likelihood of the counts + KL(q(g0) || N(0, I)) + KL(q(u) ||
N(0, σ_u² I)) with a linear KL warm-up. Left out at this scale (documented): the AR(1) prior on u_t (a fixed
Gaussian here), coordinated dropout and L2 penalties on the recurrent weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from neurodyn.loop import fit
from neurodyn.utils.seed import derive_seed, seed_everything


class LFADS(nn.Module):
    def __init__(self, *, n_units: int, enc_dim: int, ic_dim: int, ci_dim: int, con_dim: int, n_inputs: int,
                 gen_dim: int, n_factors: int, input_prior_var: float):
        super().__init__()
        self.n_inputs, self.n_factors, self.input_prior_var = n_inputs, n_factors, input_prior_var
        self.ic_enc = nn.GRU(n_units, enc_dim, batch_first=True, bidirectional=True)
        self.ic_post = nn.Linear(2 * enc_dim, 2 * ic_dim)
        self.ic_to_gen = nn.Linear(ic_dim, gen_dim)
        self.ci_enc = nn.GRU(n_units, ci_dim, batch_first=True, bidirectional=True) if n_inputs else None
        self.controller = nn.GRUCell(2 * ci_dim + n_factors, con_dim) if n_inputs else None
        self.u_post = nn.Linear(con_dim, 2 * n_inputs) if n_inputs else None
        self.con_dim = con_dim
        self.generator = nn.GRUCell(max(n_inputs, 1), gen_dim)
        self.factors = nn.Linear(gen_dim, n_factors, bias=False)
        self.readout = nn.Linear(n_factors, n_units)

    def forward(self, counts: torch.Tensor, gen: torch.Generator | None = None, sample: bool = True) -> dict[str, torch.Tensor]:
        """counts: (B, T, N) -> log_rates (B, T, N), factors (B, T, F), kl_ic (B,), kl_u (B,)."""
        bsz, t, _ = counts.shape
        x = torch.log1p(counts)
        _, h = self.ic_enc(x)
        mean, logvar = self.ic_post(torch.cat([h[0], h[1]], -1)).chunk(2, -1)
        logvar = logvar.clamp(-8, 8)
        g0 = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=gen).to(mean) if sample else mean
        kl_ic = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).sum(-1)
        g = torch.tanh(self.ic_to_gen(g0))
        f = self.factors(g)
        ci = self.ci_enc(x)[0] if self.ci_enc is not None else None
        c = torch.zeros(bsz, self.con_dim, device=counts.device) if self.controller is not None else None
        kl_u = torch.zeros(bsz, device=counts.device)
        facs, logr = [], []
        for k in range(t):
            if self.controller is not None:
                c = self.controller(torch.cat([ci[:, k], f], -1), c)
                um, ulv = self.u_post(c).chunk(2, -1)
                ulv = ulv.clamp(-8, 8)
                u = um + torch.exp(0.5 * ulv) * torch.randn(um.shape, generator=gen).to(um) if sample else um
                pv = self.input_prior_var
                kl_u = kl_u + 0.5 * ((um**2 + ulv.exp()) / pv - 1 - ulv + np.log(pv)).sum(-1)
            else:
                u = torch.zeros(bsz, 1, device=counts.device)
            g = self.generator(u, g)
            f = self.factors(g)
            facs.append(f)
            logr.append(self.readout(f))
        return {"log_rates": torch.stack(logr, 1), "factors": torch.stack(facs, 1), "kl_ic": kl_ic, "kl_u": kl_u}


def fit_lfads(train_counts: np.ndarray, all_counts: np.ndarray, cfg: Mapping[str, Any], *, seed: int, device="cpu") -> dict[str, Any]:
    """Counts per step (n, T, N). Returns factors (n, T, F), rates per step (n, T, N), history."""
    seed_everything(seed)
    x = torch.as_tensor(train_counts, device=device)
    model = LFADS(n_units=x.shape[-1], enc_dim=int(cfg["enc_dim"]), ic_dim=int(cfg["ic_dim"]), ci_dim=int(cfg["ci_dim"]),
                  con_dim=int(cfg["con_dim"]), n_inputs=int(cfg["n_inputs"]), gen_dim=int(cfg["gen_dim"]),
                  n_factors=int(cfg["n_factors"]), input_prior_var=float(cfg["input_prior_var"])).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=float(cfg["lr"]))
    bsz = min(int(cfg["batch_size"]), len(x))
    warm = max(int(cfg["kl_warmup_steps"]), 1)

    def step_fn(step, gen):
        batch = x[torch.randint(len(x), (bsz,), generator=gen).to(device)]
        out = model(batch, gen)
        nll = (torch.exp(out["log_rates"]) - batch * out["log_rates"]).sum((1, 2)).mean()
        kl = (out["kl_ic"] + out["kl_u"]).mean()
        w = min(1.0, step / warm)
        return {"loss": nll + w * kl, "nll": nll, "kl": kl}

    res = fit(modules={"lfads": model}, optimizer=opt, step_fn=step_fn, n_steps=int(cfg["steps"]), record=None,
              seed=derive_seed(seed, "lfads-batches"), label="lfads", checkpoint_every=0, clip_grad=float(cfg["clip_grad"]))
    with torch.no_grad():
        out = model(torch.as_tensor(all_counts, device=device), sample=False)
    return {"latents": out["factors"].cpu().numpy(), "rates_per_step": torch.exp(out["log_rates"]).cpu().numpy(),
            "history": res.history, "state": model.state_dict()}
