"""Frame-wise VAE (Kingma & Welling 2014), DCF's "VAE" comparison (docs/papers.md §1, Tables 1–2).

Encoder MLP q(z | x) = N(μ(x), diag σ²(x)), decoder MLP p(x | z) = N(f(z), I); loss = reconstruction MSE summed
over D + β KL(q || N(0, I)), averaged over frames. Latents are the posterior means.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from neurodyn.models.dcf.nets import mlp
from neurodyn.loop import fit
from neurodyn.utils.seed import derive_seed, seed_everything


class FrameVAE(nn.Module):
    def __init__(self, *, dim: int, latent_dim: int, width: int, depth: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.enc = mlp(dim, 2 * latent_dim, width=width, depth=depth)
        self.dec = mlp(latent_dim, dim, width=width, depth=depth)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, D) -> mean, log-variance (B, d)."""
        mean, logvar = self.enc(x).chunk(2, dim=-1)
        return mean, logvar.clamp(-10, 10)

    def loss(self, x: torch.Tensor, beta: float, gen: torch.Generator) -> dict[str, torch.Tensor]:
        mean, logvar = self.encode(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=gen).to(x)
        rec = ((self.dec(z) - x) ** 2).sum(-1).mean()
        kl = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).sum(-1).mean()
        return {"loss": rec + beta * kl, "rec": rec, "kl": kl}


def fit_vae(train: np.ndarray, everything: np.ndarray, cfg: Mapping[str, Any], *, seed: int, device="cpu") -> dict[str, Any]:
    """train: (n_tr, T, D); everything: (n, T, D). Returns latents (n, T, d), reconstruction (n, T, D), history."""
    seed_everything(seed)
    x = torch.as_tensor(train.reshape(-1, train.shape[-1]), device=device)
    model = FrameVAE(dim=x.shape[1], latent_dim=int(cfg["latent_dim"]), width=int(cfg["width"]), depth=int(cfg["depth"])).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=float(cfg["lr"]))
    bsz = min(int(cfg["batch_size"]), len(x))

    def step_fn(step, gen):
        return model.loss(x[torch.randint(len(x), (bsz,), generator=gen).to(device)], float(cfg["beta"]), gen)

    res = fit(modules={"vae": model}, optimizer=opt, step_fn=step_fn, n_steps=int(cfg["steps"]), record=None,
              seed=derive_seed(seed, "vae-batches"), label="vae", checkpoint_every=0)
    allx = torch.as_tensor(everything.reshape(-1, everything.shape[-1]), device=device)
    with torch.no_grad():
        mean, _ = model.encode(allx)
        rec = model.dec(mean)
    n, t, _ = everything.shape
    return {"latents": mean.reshape(n, t, -1).cpu().numpy(), "reconstruction": rec.reshape(n, t, -1).cpu().numpy(),
            "history": res.history, "state": model.state_dict()}
