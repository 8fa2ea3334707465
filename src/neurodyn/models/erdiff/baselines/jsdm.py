"""JSDM — Jensen–Shannon divergence minimisation between source and target latent distributions.

As characterised in ERDiff (Wang et al., NeurIPS 2023, Table 1 and Table 2: a metric-based alignment with no
added parameters). The JS divergence JS(P‖Q) = ½KL(P‖M) + ½KL(Q‖M), M = ½(P + Q) (Lin, IEEE Trans. Inf. Theory
37, 1991) is estimated with Gaussian kernel density estimates (Parzen windows) of the per-bin latent states of
the two domains, evaluated at the samples themselves; it is averaged over time bins, so states are compared
time-locked but the temporal structure within a trial is not modelled (the limitation ERDiff points at).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _log_kde(points: torch.Tensor, centres: torch.Tensor, bandwidth: torch.Tensor, exclude_self: bool) -> torch.Tensor:
    """log of a Gaussian KDE with ``centres`` (m, d) at ``points`` (n, d) -> (n,)."""
    d = points.shape[-1]
    d2 = torch.cdist(points, centres).pow(2)
    logk = -d2 / (2 * bandwidth**2) - d * torch.log(bandwidth) - 0.5 * d * math.log(2 * math.pi)
    m = centres.shape[0]
    if exclude_self:  # leave-one-out: a point's own kernel would make every density look peaked
        logk = logk - torch.eye(points.shape[0], m, device=points.device) * 1e9
        m = m - 1
    return torch.logsumexp(logk, dim=1) - math.log(max(m, 1))


def js_divergence(p: torch.Tensor, q: torch.Tensor, bandwidth_scale: float = 1.0) -> torch.Tensor:
    """KDE estimate of JS(P‖Q) from samples p (n, d), q (m, d); bandwidth = scale × Silverman's rule on the pool."""
    pool = torch.cat([p, q]).detach()
    n, d = pool.shape
    bw = bandwidth_scale * pool.std(0).mean().clamp(min=1e-3) * (4 / ((d + 2) * n)) ** (1 / (d + 4))
    lp_p, lq_p = _log_kde(p, p, bw, True), _log_kde(p, q, bw, False)
    lp_q, lq_q = _log_kde(q, p, bw, False), _log_kde(q, q, bw, True)
    lm_p = torch.logaddexp(lp_p, lq_p) - math.log(2)
    lm_q = torch.logaddexp(lp_q, lq_q) - math.log(2)
    return 0.5 * (lp_p - lm_p).mean() + 0.5 * (lq_q - lm_q).mean()


class JSDM(nn.Module):
    def __init__(self, *, n_bins: int, n_latent: int, n_target_channels: int, bandwidth_scale: float = 1.0):
        super().__init__()
        self.bandwidth_scale = bandwidth_scale

    def forward(self, *, z_t: torch.Tensor, z_s: torch.Tensor, **_) -> dict[str, torch.Tensor]:
        js = torch.stack([js_divergence(z_s[:, i], z_t[:, i], self.bandwidth_scale) for i in range(z_t.shape[1])]).mean()
        return {"loss": js, "js": js, "criterion": js}
