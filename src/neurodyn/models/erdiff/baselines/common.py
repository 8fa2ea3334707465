"""Pieces several baselines share: gradient reversal, kernel MMD, sparsemax, a small MLP."""

from __future__ import annotations

import torch
from torch import nn


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.scale * grad, None


def grad_reverse(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Identity forward, −scale × gradient backward (Ganin & Lempitsky, ICML 2015): one optimiser trains a
    discriminator to separate domains while the features upstream learn to confuse it."""
    return _Reverse.apply(x, scale)


def mmd2(a: torch.Tensor, b: torch.Tensor, *, scales: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)) -> torch.Tensor:
    """Multi-kernel (Gaussian) squared MMD between samples a (n, D) and b (m, D) (Gretton et al., JMLR 2012;
    multi-kernel as in Long et al., ICML 2015). Bandwidths are ``scales`` × the median pairwise distance."""
    joint = torch.cat([a, b])
    d2 = torch.cdist(joint, joint).pow(2)
    # the median over the upper triangle: each pair once (the full matrix holds each twice, same lower median)
    # and a quarter of the sort the full matrix costs
    rows, cols = torch.triu_indices(len(joint), len(joint), 1, device=joint.device)
    pairs = d2.detach()[rows, cols]
    pairs = pairs[pairs > 0]
    med = pairs.median() if len(pairs) else d2.new_tensor(1.0)
    k = sum(torch.exp(-d2 / (2 * s * s * med)) for s in scales) / len(scales)
    n = a.shape[0]
    return k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean()


def sparsemax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Sparsemax (Martins & Astudillo, ICML 2016): Euclidean projection onto the simplex along ``dim``."""
    z = z.transpose(dim, -1)
    sorted_z, _ = torch.sort(z, dim=-1, descending=True)
    k = torch.arange(1, z.shape[-1] + 1, device=z.device, dtype=z.dtype)
    cumsum = sorted_z.cumsum(-1)
    support = (1 + k * sorted_z) > cumsum
    k_z = support.sum(-1, keepdim=True).clamp(min=1)
    tau = (cumsum.gather(-1, k_z - 1) - 1) / k_z.to(z.dtype)
    return torch.clamp(z - tau, min=0).transpose(dim, -1)


def mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, n_out))
