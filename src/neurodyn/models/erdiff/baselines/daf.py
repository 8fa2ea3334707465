"""DAF — domain adaptation via attention sharing (Jin, Park, Hoang, Huang & Maddix, "Domain adaptation for time
series forecasting via attention sharing", ICML 2022).

Each domain has its own sequence generator around one shared attention module: private query/key projections,
a shared value/output path, and a forecasting head that predicts each bin's latent from the past (DAF's
forecasting task; here on latent trajectories, causal attention). A domain discriminator sees the queries and
keys and, through gradient reversal, makes them domain-invariant (DAF's adversarial term on Q, K).

In DAF the forecast targets are the observed series, fixed data. Here they are latents of the trainable target
read-in, and a forecast loss that reaches the read-in is minimised by a constant latent (trivially
forecastable): an earlier version trained the read-in on it and the aligned latents collapsed. So the
forecasting losses train DAF's own modules on detached latents, as they would on data, and the read-in is
trained by the adversarial term alone.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from neurodyn.models.erdiff.baselines.common import grad_reverse, mlp


class DAF(nn.Module):
    def __init__(self, *, n_bins: int, n_latent: int, n_target_channels: int, hidden: int = 32, reversal: float = 1.0, forecast_weight: float = 1.0):
        super().__init__()
        self.embed = nn.ModuleDict({k: nn.Linear(n_latent, hidden) for k in ("source", "target")})
        self.qk = nn.ModuleDict({k: nn.Linear(hidden, 2 * hidden) for k in ("source", "target")})
        self.value = nn.Linear(hidden, hidden)  # shared
        self.out = nn.Linear(hidden, n_latent)  # shared forecasting head
        self.discriminator = mlp(hidden, hidden, 1)
        self.scale = hidden**-0.5
        self.reversal, self.forecast_weight = reversal, forecast_weight
        mask = torch.triu(torch.ones(n_bins, n_bins, dtype=torch.bool), diagonal=0)
        self.register_buffer("mask", mask)  # bin i attends to bins < i (strict past: a forecast)

    def _qk(self, z: torch.Tensor, domain: str):
        h = self.embed[domain](z)
        q, k = self.qk[domain](h).chunk(2, dim=-1)
        return h, q, k

    def _forecast(self, z: torch.Tensor, domain: str) -> torch.Tensor:
        """MSE of the causal-attention forecast of bins 1..l−1 of z (B, l, d) from their past."""
        h, q, k = self._qk(z, domain)
        att = (q @ k.transpose(1, 2)) * self.scale
        att = att.masked_fill(self.mask[: z.shape[1], : z.shape[1]], float("-inf"))
        att = torch.nan_to_num(torch.softmax(att, dim=-1))  # the first bin has no past: zero weights
        pred = self.out(att @ self.value(h))
        return F.mse_loss(pred[:, 1:], z[:, 1:])

    def forward(self, *, z_t: torch.Tensor, z_s: torch.Tensor, **_) -> dict[str, torch.Tensor]:
        f_s = self._forecast(z_s.detach(), "source")
        f_t = self._forecast(z_t.detach(), "target")  # detached: see the module docstring
        _, q_s, k_s = self._qk(z_s, "source")
        _, q_t, k_t = self._qk(z_t, "target")
        src = torch.cat([q_s, k_s], dim=1).flatten(0, 1)
        tgt = grad_reverse(torch.cat([q_t, k_t], dim=1).flatten(0, 1), self.reversal)
        logits = self.discriminator(torch.cat([src, tgt])).squeeze(-1)
        labels = torch.cat([torch.ones(src.shape[0]), torch.zeros(tgt.shape[0])]).to(logits.device)
        adv = F.binary_cross_entropy_with_logits(logits, labels)
        loss = self.forecast_weight * (f_s + f_t) + adv
        # the read-in's own objective: confuse the discriminator (maximise its loss)
        return {"loss": loss, "forecast": f_s + f_t, "domain_bce": adv, "criterion": -adv}
