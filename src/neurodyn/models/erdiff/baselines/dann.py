"""DANN — domain-adversarial training (Ganin, Ustinova, Ajakan, Germain, Larochelle, Laviolette, Marchand &
Lempitsky, "Domain-adversarial training of neural networks", JMLR 17, 2016; eq. 18 with the gradient reversal
layer of Ganin & Lempitsky, ICML 2015).

A domain classifier sees whole latent trials (flattened l×d) and learns source vs target with cross-entropy;
through the gradient reversal layer the target read-in learns latents it cannot tell apart. The source encoder
is frozen (the source task loss of DANN is therefore constant and omitted).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from neurodyn.models.erdiff.baselines.common import grad_reverse, mlp


class DANN(nn.Module):
    def __init__(self, *, n_bins: int, n_latent: int, n_target_channels: int, hidden: int = 64, reversal: float = 1.0):
        super().__init__()
        self.classifier = mlp(n_bins * n_latent, hidden, 1)
        self.reversal = reversal

    def forward(self, *, z_t: torch.Tensor, z_s: torch.Tensor, **_) -> dict[str, torch.Tensor]:
        feats = torch.cat([z_s.flatten(1), grad_reverse(z_t.flatten(1), self.reversal)])
        labels = torch.cat([torch.ones(z_s.shape[0]), torch.zeros(z_t.shape[0])]).to(feats.device)
        loss = F.binary_cross_entropy_with_logits(self.classifier(feats).squeeze(-1), labels)
        # the read-in maximises the classifier's loss (through the reversal): its own objective is −BCE
        return {"loss": loss, "domain_bce": loss, "criterion": -loss}
