"""Networks of DCF (Wei et al. 2026, docs/papers.md §1 "Sizes"): MLP encoder and flows for vector data, a conv
encoder and conv U-Net flows for images. All of them take and return *flat* tensors (B, D) so that the
model code is one path for both kinds of data; the conv nets reshape to ``image_shape`` inside.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def scalar_features(values: torch.Tensor, n_freq: int = 8) -> torch.Tensor:
    """Sinusoidal features of scalar conditioning variables (τ, s).

    values: (B, n) in [0, 1] -> (B, n * (2 * n_freq + 1)).
    """
    freqs = (2.0 ** torch.arange(n_freq, device=values.device, dtype=values.dtype)) * math.pi
    angles = values[..., None] * freqs  # (B, n, n_freq)
    feats = torch.cat([values[..., None], torch.sin(angles), torch.cos(angles)], dim=-1)
    return feats.flatten(1)


def mlp(n_in: int, n_out: int, *, width: int, depth: int) -> nn.Sequential:
    """``depth`` linear layers (depth - 1 hidden layers of ``width``) with SiLU."""
    layers: list[nn.Module] = []
    dims = [n_in] + [width] * (depth - 1) + [n_out]
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """μ_ψ for vector data: (B, D) -> (B, d)."""

    def __init__(self, *, dim: int, latent_dim: int, width: int, depth: int):
        super().__init__()
        self.net = mlp(dim, latent_dim, width=width, depth=depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MLPField(nn.Module):
    """A velocity field f(x, c, hist) for vector data.

    x: (B, D); cond: (B, n_cond) scalars in [0, 1] (τ, or τ and s); hist: (B, h * D) or None -> (B, D).
    """

    def __init__(self, *, dim: int, n_cond: int, hist_dim: int, width: int, depth: int, n_freq: int = 8):
        super().__init__()
        self.n_freq = n_freq
        self.net = mlp(dim + hist_dim + n_cond * (2 * n_freq + 1), dim, width=width, depth=depth)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, hist: torch.Tensor | None = None) -> torch.Tensor:
        parts = [x, scalar_features(cond, self.n_freq)]
        if hist is not None and hist.shape[-1]:
            parts.insert(1, hist)
        return self.net(torch.cat(parts, dim=-1))


class ConvEncoder(nn.Module):
    """μ_ψ for images (the mean path of a conv VAE encoder): flat (B, C*H*W) -> (B, d)."""

    def __init__(self, *, image_shape: tuple[int, int, int], latent_dim: int, channels: list[int], width: int):
        super().__init__()
        self.image_shape = tuple(image_shape)
        c_in, h, w = self.image_shape
        layers: list[nn.Module] = []
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.SiLU()]
            c_in, h, w = c, (h + 1) // 2, (w + 1) // 2
        self.conv = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c_in * h * w, width), nn.SiLU(), nn.Linear(width, latent_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x.reshape(-1, *self.image_shape)))


class _ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb_dim: int):
        super().__init__()
        groups = lambda c: math.gcd(c, 8)  # noqa: E731 — GroupNorm needs a divisor of the channel count
        self.norm1, self.conv1 = nn.GroupNorm(groups(c_in), c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(groups(c_out), c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(nn.functional.silu(self.norm1(x))) + self.emb(emb)[:, :, None, None]
        h = self.conv2(nn.functional.silu(self.norm2(h)))
        return h + self.skip(x)


class UNetField(nn.Module):
    """A conv U-Net velocity field for images, conditioned on scalars (τ, s) and optional history frames.

    ``channels`` gives one entry per level (the paper: 4 levels, 32–256 channels); the image is zero-padded to
    a multiple of 2**(levels-1) and cropped back. History frames enter as extra input channels.
    x: flat (B, C*H*W); cond: (B, n_cond); hist: (B, h*C*H*W) or None -> flat (B, C*H*W).
    """

    def __init__(self, *, image_shape: tuple[int, int, int], n_cond: int, history: int, channels: list[int], n_freq: int = 8):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.history, self.n_freq = history, n_freq
        c, _, _ = self.image_shape
        emb_dim = 4 * channels[0]
        self.embed = nn.Sequential(nn.Linear(n_cond * (2 * n_freq + 1), emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.inp = nn.Conv2d(c * (1 + history), channels[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.pool = nn.ModuleList()
        prev = channels[0]
        for i, ch in enumerate(channels):
            self.down.append(_ResBlock(prev, ch, emb_dim))
            self.pool.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1) if i < len(channels) - 1 else nn.Identity())
            prev = ch
        self.mid = _ResBlock(prev, prev, emb_dim)
        self.up = nn.ModuleList()
        self.unpool = nn.ModuleList()
        for i in reversed(range(len(channels))):
            ch = channels[i]
            self.up.append(_ResBlock(prev + ch, ch, emb_dim))
            self.unpool.append(nn.Upsample(scale_factor=2, mode="nearest") if i > 0 else nn.Identity())
            prev = ch
        self.out = nn.Sequential(nn.GroupNorm(math.gcd(prev, 8), prev), nn.SiLU(), nn.Conv2d(prev, c, 3, padding=1))
        self.multiple = 2 ** (len(channels) - 1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, hist: torch.Tensor | None = None) -> torch.Tensor:
        c, h, w = self.image_shape
        b = x.shape[0]
        img = x.reshape(b, c, h, w)
        if self.history:
            img = torch.cat([img, hist.reshape(b, self.history * c, h, w)], dim=1)
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        img = nn.functional.pad(img, (0, pw, 0, ph))
        emb = self.embed(scalar_features(cond, self.n_freq))
        z = self.inp(img)
        skips = []
        for block, pool in zip(self.down, self.pool):
            z = block(z, emb)
            skips.append(z)
            z = pool(z)
        z = self.mid(z, emb)
        for block, unpool in zip(self.up, self.unpool):
            z = block(torch.cat([z, skips.pop()], dim=1), emb)
            z = unpool(z)
        return self.out(z)[:, :, :h, :w].reshape(b, -1)
