"""RDA-MMD — recurrent domain adaptation with a maximum mean discrepancy criterion (the "RDA-MMD" row of
ERDiff's Table 1). Our reading of it, since the row's reference could not be checked offline: a recurrent
(GRU) feature extractor summarises latent trajectories, and the multi-kernel MMD (Gretton et al., JMLR 2012;
Long et al., "Learning transferable features with deep adaptation networks", ICML 2015) between source and
target is minimised on the trajectories and on the recurrent features. The extractor is kept from collapsing
(a constant feature has zero MMD) by a self-supervised task on source trajectories: predicting the next bin's
latent state from its hidden state.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from neurodyn.models.erdiff.baselines.common import mmd2


# the per-bin feature MMD's kernel is (rows_s + rows_t)², and a step holds one per restart for the backward pass:
# 16 restarts x 32 trials x 35 bins (the 000688 pairs) took 5.2 GB, and scoring every train+val trial of a real
# session (e.g. 320 x 35 = 11,200 rows per side) would need more. Above this many rows a random subset drawn with
# the caller's generator (the step's, or the criterion's fixed one) stands in for them: an unbiased stand-in for the
# same MMD. The bundled pair's batches (32 x 14 = 448 rows) stay whole.
MAX_FEATURE_ROWS = 512


def _rows(h: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    """h (n, H) itself, or MAX_FEATURE_ROWS of its rows drawn without replacement."""
    if h.shape[0] <= MAX_FEATURE_ROWS:
        return h
    idx = torch.randperm(h.shape[0], generator=gen)[:MAX_FEATURE_ROWS].to(h.device)
    return h[idx]


class RDAMMD(nn.Module):
    def __init__(self, *, n_bins: int, n_latent: int, n_target_channels: int, hidden: int = 64, feature_weight: float = 1.0, predict_weight: float = 1.0):
        super().__init__()
        self.rnn = nn.GRU(n_latent, hidden, batch_first=True)
        self.predict = nn.Linear(hidden, n_latent)
        self.feature_weight, self.predict_weight = feature_weight, predict_weight

    def forward(self, *, z_t: torch.Tensor, z_s: torch.Tensor, gen: torch.Generator | None = None, **_) -> dict[str, torch.Tensor]:
        h_s, _ = self.rnn(z_s)
        h_t, _ = self.rnn(z_t)
        pred = F.mse_loss(self.predict(h_s[:, :-1]), z_s[:, 1:])
        mmd_traj = mmd2(z_s.flatten(1), z_t.flatten(1))
        mmd_feat = mmd2(h_s[:, -1], h_t[:, -1]) + mmd2(_rows(h_s.flatten(0, 1), gen), _rows(h_t.flatten(0, 1), gen))
        loss = mmd_traj + self.feature_weight * mmd_feat + self.predict_weight * pred
        # the next-bin task trains the extractor on source trajectories only; the read-in sees the MMD terms
        return {"loss": loss, "mmd": mmd_traj, "mmd_features": mmd_feat, "predict": pred, "criterion": mmd_traj + self.feature_weight * mmd_feat}
