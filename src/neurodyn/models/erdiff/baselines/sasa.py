"""SASA — sparse associative structure alignment (Cai, Chen, Li, Chen, Zhang, Ye, Li, Yang & Zhang,
"Time series domain adaptation via sparse associative structure alignment", AAAI 2021).

Per latent dimension (SASA's "variable"), segments of several lengths ending at the last bin are encoded by a
shared LSTM; a sparse intra-variable attention (sparsemax over segment lengths) pools them into one
representation per variable; a sparse inter-variable attention between variables gives the associative
structure. Alignment minimises the discrepancy (MMD) between domains of the intra-variable attention weights,
of the association structures and of the structure-weighted representations (SASA eqs. for L_α, L_β and the
feature term). The source-label loss is constant here (frozen source model) and omitted.
"""

from __future__ import annotations

import torch
from torch import nn

from neurodyn.models.erdiff.baselines.common import mmd2, sparsemax


class SASA(nn.Module):
    def __init__(self, *, n_bins: int, n_latent: int, n_target_channels: int, hidden: int = 32, segments: list[int] | None = None):
        super().__init__()
        self.segments = [s for s in (segments or [3, 6, 9, 12]) if s <= n_bins] or [n_bins]
        self.lstm = nn.LSTM(1, hidden, batch_first=True)
        self.intra_score = nn.Linear(hidden, 1)
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.scale = hidden**-0.5

    def structures(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z (B, l, d) -> intra-variable weights (B, d, S), association (B, d, d), features (B, d, h)."""
        b, l, d = z.shape
        per_var = z.transpose(1, 2).reshape(b * d, l, 1)
        reps = []
        for length in self.segments:
            _, (h, _) = self.lstm(per_var[:, l - length :])
            reps.append(h[-1])
        reps = torch.stack(reps, dim=1)  # (B*d, S, h)
        alpha = sparsemax(self.intra_score(reps).squeeze(-1), dim=-1)
        u = (alpha.unsqueeze(-1) * reps).sum(1).reshape(b, d, -1)
        beta = sparsemax(self.query(u) @ self.key(u).transpose(1, 2) * self.scale, dim=-1)
        return alpha.reshape(b, d, -1), beta, beta @ u

    def forward(self, *, z_t: torch.Tensor, z_s: torch.Tensor, **_) -> dict[str, torch.Tensor]:
        a_s, b_s, f_s = self.structures(z_s)
        a_t, b_t, f_t = self.structures(z_t)
        l_alpha = mmd2(a_s.flatten(1), a_t.flatten(1))
        l_beta = mmd2(b_s.flatten(1), b_t.flatten(1))
        l_feat = mmd2(f_s.flatten(1), f_t.flatten(1))
        loss = l_alpha + l_beta + l_feat
        return {"loss": loss, "intra": l_alpha, "inter": l_beta, "features": l_feat, "criterion": loss}
