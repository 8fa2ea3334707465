"""The source latent variable model of ERDiff: a sequential VAE with a velocity readout.

Wang et al., NeurIPS 2023, §3.1 (slides: "Source-Domain"): φ_s, ψ_s = argmax E_q[log p(X|Z; ψ)] − KL(q(Z|X; φ) ‖ q̄(Z)),
with q(Z|X; φ) a Gaussian per bin from a recurrent encoder and q̄ = N(0, I). The NeurIPS code's sizes:
read-in Linear(N→64) → 2-layer RNN(64) → latent 8. The read-in is kept as its own module because alignment
(§3.3) re-fits only the read-in φ_t of a target session and freezes the rest.

Likelihoods: ``poisson`` (spike counts, log-rate = decoder(Z)) for recordings and ``continuous_bernoulli``
(Loaiza-Ganem & Cunningham, NeurIPS 2019) for the paper's synthetic observations in [0, 1].
The velocity (behaviour) readout is linear from each bin's latent and is trained jointly on the source session;
after alignment it decodes the target's aligned latents unchanged (paper §3.4).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

LIKELIHOODS = ("poisson", "continuous_bernoulli")


class SequentialVAE(nn.Module):
    """q(Z|X): read-in → GRU/RNN → (mean, log-variance) per bin; p(X|Z): per-bin decoder; readout Z → behaviour.

    Shapes: X (batch, time, channel); Z (batch, time, latent); behaviour (batch, time, axis).
    """

    def __init__(
        self,
        *,
        n_channels: int,
        n_latent: int,
        hidden: int,
        rnn_layers: int,
        rnn: str = "gru",
        bidirectional: bool = True,
        decoder_hidden: int = 0,
        n_behaviour: int = 0,
        likelihood: str = "poisson",
    ):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        self.likelihood = likelihood
        self.n_latent = n_latent
        self.read_in = nn.Linear(n_channels, hidden)
        cell = {"gru": nn.GRU, "rnn": nn.RNN, "lstm": nn.LSTM}[rnn]
        self.rnn = cell(hidden, hidden, num_layers=rnn_layers, batch_first=True, bidirectional=bidirectional)
        width = hidden * (2 if bidirectional else 1)
        self.to_mean = nn.Linear(width, n_latent)
        self.to_logvar = nn.Linear(width, n_latent)
        if decoder_hidden:
            self.decoder = nn.Sequential(nn.Linear(n_latent, decoder_hidden), nn.ELU(), nn.Linear(decoder_hidden, n_channels))
        else:
            self.decoder = nn.Linear(n_latent, n_channels)
        self.readout = nn.Linear(n_latent, n_behaviour) if n_behaviour else None

    # -- encoder -------------------------------------------------------------------------------------------------
    def encode(self, x: torch.Tensor, read_in: nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, N) -> mean, logvar (B, T, d). ``read_in`` replaces the source read-in (a target session's φ_t)."""
        h = (read_in or self.read_in)(x)
        h, _ = self.rnn(h)
        return self.to_mean(h), self.to_logvar(h).clamp(-10.0, 5.0)

    @staticmethod
    def sample(mean: torch.Tensor, logvar: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(mean.shape, generator=gen, device="cpu").to(mean.device) if gen is not None else torch.randn_like(mean)
        return mean + torch.exp(0.5 * logvar) * noise

    # -- decoder -------------------------------------------------------------------------------------------------
    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor, observed: torch.Tensor | None = None) -> torch.Tensor:
        """log p(X|Z) per trial, (B,), summed over time and observed channels."""
        out = self.decoder(z)
        if self.likelihood == "poisson":
            # counts need not be integers (smoothed / rescaled bins): the Poisson log-density without log x!
            ll = x * out - torch.exp(out)
        else:
            ll = torch.distributions.ContinuousBernoulli(logits=out, validate_args=False).log_prob(x.clamp(1e-4, 1 - 1e-4))
        if observed is not None:
            ll = ll * observed
        return ll.sum(dim=(1, 2))

    def rates(self, z: torch.Tensor) -> torch.Tensor:
        """Expected observation per bin: Poisson rate or continuous-Bernoulli mean, (B, T, N)."""
        out = self.decoder(z)
        if self.likelihood == "poisson":
            return torch.exp(out)
        return torch.distributions.ContinuousBernoulli(logits=out, validate_args=False).mean

    def decode_behaviour(self, z: torch.Tensor) -> torch.Tensor:
        if self.readout is None:
            raise RuntimeError("this VAE has no behaviour readout (the session had no behaviour variable)")
        return self.readout(z)

    # -- training objective ----------------------------------------------------------------------------------------
    def loss(
        self,
        x: torch.Tensor,
        *,
        observed: torch.Tensor | None = None,
        behaviour: torch.Tensor | None = None,
        kl_weight: float = 1.0,
        behaviour_weight: float = 1.0,
        gen: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Negative ELBO per trial (+ behaviour MSE): the source objective of §3.1."""
        mean, logvar = self.encode(x)
        z = self.sample(mean, logvar, gen)
        nll = -self.log_likelihood(x, z, observed).mean()
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=(1, 2)).mean()
        loss = nll + kl_weight * kl
        out = {"nll": nll, "kl": kl}
        if behaviour is not None and self.readout is not None:
            mse = F.mse_loss(self.readout(z), behaviour)
            # scaled per trial element count so the behaviour term is commensurate with the summed ELBO
            loss = loss + behaviour_weight * mse * behaviour.shape[1] * behaviour.shape[2]
            out["behaviour_mse"] = mse
        out["loss"] = loss
        return out
