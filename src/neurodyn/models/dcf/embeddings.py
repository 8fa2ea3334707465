"""Thin wrappers over library embeddings used as DCF comparisons: PCA (scikit-learn), CEBRA (Schneider,
Lee, Mathis 2023; the `cebra` package, unsupervised time-contrastive mode) and T-PHATE (Busch et al. 2023; the
`tphate` package). Each returns 3-D (``n_latents``) latents for every sequence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def fit_pca(train: np.ndarray, everything: np.ndarray, cfg: Mapping[str, Any], *, seed: int) -> dict[str, Any]:
    """train: (n_tr, T, D); everything: (n, T, D)."""
    from sklearn.decomposition import PCA

    d = train.shape[-1]
    pca = PCA(n_components=int(cfg["n_latents"]), random_state=seed).fit(train.reshape(-1, d))
    n, t, _ = everything.shape
    z = pca.transform(everything.reshape(-1, d))
    return {"latents": z.reshape(n, t, -1), "reconstruction": pca.inverse_transform(z).reshape(n, t, d),
            "explained_variance_ratio": pca.explained_variance_ratio_}


def fit_cebra(train: np.ndarray, everything: np.ndarray, cfg: Mapping[str, Any], *, seed: int) -> dict[str, Any]:
    """CEBRA-Time: positives are frames ``time_offset`` apart; trained on the concatenated training sequences
    (a pair across a sequence boundary is rare and is the package's documented behaviour for concatenation)."""
    import cebra
    import torch

    from neurodyn import rehearsal  # CEBRA trains in its own loop: the rehearsal's step cap applies here too

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    d = train.shape[-1]
    model = cebra.CEBRA(
        model_architecture=cfg["architecture"], output_dimension=int(cfg["n_latents"]),
        max_iterations=rehearsal.cap_steps(int(cfg["steps"])), batch_size=int(cfg["batch_size"]), learning_rate=float(cfg["lr"]),
        temperature=float(cfg["temperature"]), time_offsets=int(cfg["time_offset"]), conditional="time",
        device="cpu", verbose=False,
    )
    model.fit(train.reshape(-1, d).astype(np.float32))
    n, t, _ = everything.shape
    # transform sequence by sequence: the convolutional model pads each one at its own edges
    z = np.stack([model.transform(seq.astype(np.float32)) for seq in everything])
    return {"latents": z, "reconstruction": None}


def tphate_frames(n: int, t: int, max_frames: int) -> np.ndarray:
    """Which frames of each of n sequences of t frames T-PHATE embeds: all of them when n·t ≤ max_frames, else
    m = max(2, max_frames // n) evenly spaced frames per sequence, the first and last included. (m,) indices."""
    if n * t <= max_frames:
        return np.arange(t)
    m = max(2, min(t, max_frames // max(n, 1)))
    return np.unique(np.round(np.linspace(0, t - 1, m)).astype(int))


def fit_tphate(train: np.ndarray, everything: np.ndarray, cfg: Mapping[str, Any], *, seed: int) -> dict[str, Any]:
    """T-PHATE is transductive (no out-of-sample transform): it embeds all frames of all sequences at once,
    without behaviour; decoders are still fit on training sequences only.

    The `tphate` package builds its autocorrelation view as a dense N × N matrix, filled by a Python double
    loop, and multiplies it with PHATE's N × N operator: at MC_Maze's paper size (789 trials × 100 frames,
    N = 78,900) that is ~50 GB and ~6·10⁹ loop iterations. Above ``max_frames`` frames it therefore embeds
    evenly spaced frames of every sequence (``tphate_frames``) and interpolates each latent linearly in time
    between them, per sequence. everything: (n, T, D) -> latents (n, T, n_latents).
    """
    import tphate

    n, t, d = everything.shape
    keep = tphate_frames(n, t, int(cfg["max_frames"]))
    op = tphate.TPHATE(n_components=int(cfg["n_latents"]), knn=int(cfg["knn"]), t=cfg["t"], random_state=seed, n_jobs=1, verbose=0)
    z = np.asarray(op.fit_transform(everything[:, keep].reshape(-1, d))).reshape(n, len(keep), -1)
    if len(keep) < t:
        grid = np.arange(t)
        z = np.stack([np.stack([np.interp(grid, keep, seq[:, k]) for k in range(seq.shape[1])], 1) for seq in z])
    return {"latents": z, "reconstruction": None, "frames_embedded": keep}
