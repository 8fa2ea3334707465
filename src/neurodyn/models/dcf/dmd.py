"""Dynamic mode decomposition (exact DMD; Schmid 2010, Tu et al. 2014), DCF's "DMD" comparison.

Rank-r truncated SVD of the stacked snapshots X = [x_0 … x_{T-2}] of the training sequences, reduced operator
Ã = U^T X' V Σ^{-1}, its eigenvectors W, modes Φ = X' V Σ^{-1} W. A frame's mode amplitudes are b = Φ^+ x;
the latents are the real coordinates of the leading amplitudes (modes ordered by mean |b| on the training data;
a complex-conjugate pair gives (Re, Im) of one amplitude). Reconstruction x̂ = Re(Φ_r b_r) from those modes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def fit_dmd(train: np.ndarray, everything: np.ndarray, cfg: Mapping[str, Any], *, seed: int | None = None) -> dict[str, Any]:
    """train: (n_tr, T, D); everything: (n, T, D) -> latents (n, T, n_latents), reconstruction, eigenvalues.
    Deterministic: ``seed`` is accepted only so that every comparison model's fitter has one signature."""
    mean = train.reshape(-1, train.shape[-1]).mean(0)
    x_prev = (train[:, :-1] - mean).reshape(-1, train.shape[-1]).T  # (D, M)
    x_next = (train[:, 1:] - mean).reshape(-1, train.shape[-1]).T
    u, s, vt = np.linalg.svd(x_prev, full_matrices=False)
    r = min(int(cfg["rank"]), int(np.sum(s > 1e-10 * s[0])))
    u, s, v = u[:, :r], s[:r], vt[:r].T
    a_tilde = u.T @ x_next @ v / s
    eigvals, w = np.linalg.eig(a_tilde)
    phi = x_next @ v / s @ w  # (D, r) complex modes
    pinv = np.linalg.pinv(phi)
    amp_train = pinv @ x_prev
    order = np.argsort(-np.abs(amp_train).mean(1))
    # real coordinates: walk the modes by importance; a conjugate pair contributes Re and Im of one member
    coords: list[tuple[int, str]] = []
    used: set[int] = set()
    for i in order:
        if i in used:
            continue
        conj = [j for j in order if j not in used and j != i and np.isclose(eigvals[j], np.conj(eigvals[i])) and abs(eigvals[i].imag) > 1e-9]
        used.add(i)
        if conj:
            used.add(conj[0])
            coords += [(i, "re"), (i, "im")]
        else:
            coords.append((i, "re"))
    coords = coords[: int(cfg["n_latents"])]
    n, t, d = everything.shape
    amp = pinv @ (everything.reshape(-1, d) - mean).T  # (r, n*t)
    lat = np.stack([amp[i].real if part == "re" else amp[i].imag for i, part in coords], 1)
    keep = sorted({i for i, _ in coords} | {j for i, _ in coords for j in range(len(eigvals)) if np.isclose(eigvals[j], np.conj(eigvals[i]))})
    rec = (phi[:, keep] @ amp[keep]).real.T + mean
    return {"latents": lat.reshape(n, t, -1), "reconstruction": rec.reshape(n, t, d), "eigenvalues": eigvals}
