"""Cycle-GAN alignment (Zhu, Park, Isola & Efros, "Unpaired image-to-image translation using cycle-consistent
adversarial networks", ICCV 2017; applied to aligning neural recordings across days by Ma, Perich et al.,
"Using adversarial networks to extend brain computer interface decoding accuracy over time", eLife 2023).

The two domains are target recordings X_t and source latents Z_s. G: X_t → Z is the target encoder (the
trainable read-in in front of the frozen source encoder); F: Z → X_t is an added Poisson decoder (log-rates).
Discriminators D_Z (whole latent trials) and D_X (target bins, on log1p counts) are trained with the
least-squares GAN loss (Mao et al., ICCV 2017) as in Cycle-GAN; cycle consistency asks F(G(X_t)) ≈ X_t
(Poisson NLL) and G(F(Z_s)) ≈ Z_s (squared error). The generators' adversarial updates go through gradient
reversal, so one optimiser runs the min-max game (a minimax rather than the non-saturating form).
"""

from __future__ import annotations

import torch
from torch import nn

from neurodyn.models.erdiff.baselines.common import grad_reverse, mlp


class CycleGAN(nn.Module):
    def __init__(self, *, n_bins: int, n_latent: int, n_target_channels: int, hidden: int = 64, cycle_weight: float = 1.0, reversal: float = 1.0):
        super().__init__()
        self.to_target = nn.Linear(n_latent, n_target_channels)  # F
        self.d_latent = mlp(n_bins * n_latent, hidden, 1)
        self.d_target = mlp(n_target_channels, hidden, 1)
        self.cycle_weight, self.reversal = cycle_weight, reversal

    @staticmethod
    def _ls(scores: torch.Tensor, real: bool) -> torch.Tensor:
        return (scores - (1.0 if real else 0.0)).pow(2).mean()

    def forward(self, *, z_t: torch.Tensor, z_s: torch.Tensor, x_t: torch.Tensor, encode, **_) -> dict[str, torch.Tensor]:
        # adversarial, latent side: D_Z separates source latents from G(X_t)
        adv_z = self._ls(self.d_latent(z_s.flatten(1)), True) + self._ls(self.d_latent(grad_reverse(z_t, self.reversal).flatten(1)), False)
        # adversarial, target side: D_X separates real target bins from F(Z_s)
        log_rate_fake = self.to_target(z_s)
        fake_x = torch.log1p(torch.exp(log_rate_fake))
        adv_x = self._ls(self.d_target(torch.log1p(x_t).flatten(0, 1)), True) + self._ls(self.d_target(grad_reverse(fake_x, self.reversal).flatten(0, 1)), False)
        # cycles
        log_rate = self.to_target(z_t)
        cyc_x = (torch.exp(log_rate) - x_t * log_rate).sum(dim=(1, 2)).mean() / x_t.shape[-1]
        z_back, _ = encode(torch.exp(log_rate_fake))
        cyc_z = (z_back - z_s).pow(2).mean()
        loss = adv_z + adv_x + self.cycle_weight * (cyc_x + cyc_z)
        # what G (the read-in) minimises: its cycle losses minus D_Z's loss on G's latents (G maximises that)
        criterion = self.cycle_weight * (cyc_x + cyc_z) - self._ls(self.d_latent(z_t.flatten(1)), False)
        return {"loss": loss, "adv_latent": adv_z, "adv_target": adv_x, "cycle": cyc_x + cyc_z, "criterion": criterion}
