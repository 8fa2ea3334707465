"""Evaluation of latents for DCF's Tables 1–2 and its stability analysis (docs/papers.md §1 "Published numbers").

- Table 1: a linear (ridge) decoder from the first 3 latents to velocity, fit on all training frames, scored
  on each held-out window separately: R² = 1 − SS_res / SS_tot over (time, axis) of that window.
- Table 2: firing-rate reconstruction R² per held-out window, over (time, unit), against the smoothed rates.
- Significance: one-sided Wilcoxon signed-rank test (paired by window) that DCF's R² exceeds a method's,
  Bonferroni-corrected over the methods compared; a method is starred when the corrected p < 0.05.
- Stability: for each pair of seeds, every latent dimension of the second is sign-aligned to the first, then
  the cosine similarity of the (time-concatenated, centred) latent series is averaged over dimensions.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def window_r2(y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
    """Per-window R² pooled over the window's (time, channel) entries. y, yhat: (n, T, C) -> (n,)."""
    res = ((y - yhat) ** 2).sum(axis=(1, 2))
    tot = ((y - y.mean(axis=1, keepdims=True)) ** 2).sum(axis=(1, 2))
    return 1.0 - res / np.maximum(tot, 1e-12)


def decode_velocity(latents: np.ndarray, velocity: np.ndarray, train: np.ndarray, test: np.ndarray, *, n_latents: int, alpha: float) -> np.ndarray:
    """Ridge decoder latents[..., :n_latents] -> velocity; returns R² of each test window. latents: (n, T, d)."""
    from sklearn.linear_model import Ridge

    z = latents[..., :n_latents]
    zt = z[train].reshape(-1, z.shape[-1])
    mu, sd = zt.mean(0), zt.std(0) + 1e-8  # standardise so one alpha suits every method's latent scale
    dec = Ridge(alpha=alpha).fit((zt - mu) / sd, velocity[train].reshape(-1, velocity.shape[-1]))
    pred = dec.predict(((z[test] - mu) / sd).reshape(-1, z.shape[-1])).reshape(velocity[test].shape)
    return window_r2(velocity[test], pred)


def summarise(values: np.ndarray) -> dict[str, float]:
    q25, med, q75 = np.percentile(values, [25, 50, 75])
    return {"median": float(med), "q25": float(q25), "q75": float(q75), "n": int(len(values))}


def worse_than_reference(ref: np.ndarray, others: Mapping[str, np.ndarray], level: float = 0.05) -> dict[str, dict[str, float]]:
    """One-sided Wilcoxon signed-rank (H1: reference > method), Bonferroni over ``others``."""
    from scipy.stats import wilcoxon

    m = max(len(others), 1)
    out = {}
    for name, vals in others.items():
        diff = ref - vals
        if np.allclose(diff, 0):
            p = 1.0
        else:
            p = float(wilcoxon(ref, vals, alternative="greater").pvalue)
        p_adj = min(1.0, p * m)
        out[name] = {"p": p, "p_bonferroni": p_adj, "worse": bool(p_adj < level)}
    return out


def sign_aligned_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over dimensions of |cos| between centred latent series (sign alignment = taking the sign that
    makes the cosine positive). a, b: (N, d)."""
    a = a - a.mean(0)
    b = b - b.mean(0)
    cos = (a * b).sum(0) / (np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0) + 1e-12)
    return float(np.abs(cos).mean())


def pairwise_stability(latents: list[np.ndarray]) -> np.ndarray:
    """(S, S) matrix of sign-aligned cosine similarities between seeds' latents, each (N, d)."""
    s = len(latents)
    mat = np.eye(s)
    for i in range(s):
        for j in range(i + 1, s):
            mat[i, j] = mat[j, i] = sign_aligned_cosine(latents[i], latents[j])
    return mat


def score_neural(name: str, latents: np.ndarray, reconstruction_hz: np.ndarray | None, data, stores, report: Mapping, data_cfg: Mapping,
                 *, reference: bool = False) -> dict:
    """Everything Tables 1-2 and the NLB table need from one fitted model, computed inside its job.

    latents (n_windows, T, d) and reconstruction_hz (n_windows, T, N) or None, rows aligned with ``data``'s windows
    (``neurodyn.models.dcf.data.prepare_neural``). Returns plain values: ``vel_r2_windows`` (n_test,) — Table 1's
    ridge decode of the first ``report["n_latents"]`` latents per held-out window; ``rate_r2_windows`` (n_test,) or
    None — Table 2; ``nlb`` — the NLB metrics of this model's rates (GLM readout), or None with ``nlb_unavailable``
    saying why; with ``reference``, ``nlb_smoothing`` — NLB's spike-smoothing reference (one job computes it);
    the held-out windows' indices ``test_index`` and the window counts the captions state."""
    from neurodyn.models.dcf import nlb_eval

    k = int(report["n_latents"])
    out = {"vel_r2_windows": decode_velocity(latents, data.velocity, data.train, data.test, n_latents=k, alpha=float(report["ridge_alpha"])),
           "rate_r2_windows": None if reconstruction_hz is None else window_r2(data.rates[data.test], reconstruction_hz[data.test]),
           "n_train_windows": int(len(data.train)), "n_test_windows": int(len(data.test)),
           "n_test_source_trials": int(len(set(data.trial[data.test]))), "test_index": np.asarray(data.test), "nlb": None}
    why = nlb_eval.nlb_unavailable(stores, data_cfg)
    out["nlb_unavailable"] = why
    if why is None:
        res = nlb_eval.evaluate_methods(stores, data, {name: {"latents": latents, "heldin_hz": reconstruction_hz}}, report["nlb"],
                                        data_cfg=data_cfg, reference=reference)
        out["nlb"] = res[name]
        if reference:
            out["nlb_smoothing"] = res["smoothing"]
    return out
