"""Session stores -> the tensors ERDiff's models use.

Fields read from a store (``neurodyn.store`` contract): ``spikes`` (trial, time, unit) — or ``observations``
(trial, time, channel) for the continuous-Bernoulli synthetic sessions —, one behaviour variable
(trial, time, <var>_axis) when the session has one, the per-trial coords ``split`` (train / val / test) and
``condition``, and ``latents`` (trial, time, latent) when the session is simulated. NaN (unobserved) entries of
``spikes`` are read as 0 and flagged in ``observed`` so likelihoods can ignore them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from neurodyn.errors import InputError
from neurodyn.store import open_session

SPLITS = ("train", "val", "test")


@dataclass
class Trials:
    """One session as arrays.

    x: (trial, time, channel) float32 counts or [0, 1] observations; observed: same shape, bool;
    y: (trial, time, axis) float32 behaviour or None; split, condition: (trial,) str;
    latents: (trial, time, latent) ground truth or None.
    """

    name: str
    x: np.ndarray
    observed: np.ndarray
    y: np.ndarray | None
    split: np.ndarray
    condition: np.ndarray
    latents: np.ndarray | None
    kind: str  # "spikes" | "observations"
    bin_ms: float
    attrs: dict

    @property
    def n_channels(self) -> int:
        return self.x.shape[-1]

    def mask(self, *splits: str) -> np.ndarray:
        return np.isin(self.split, splits)

    def subset(self, *splits: str) -> "Trials":
        keep = self.mask(*splits)
        return Trials(
            name=self.name,
            x=self.x[keep],
            observed=self.observed[keep],
            y=None if self.y is None else self.y[keep],
            split=self.split[keep],
            condition=self.condition[keep],
            latents=None if self.latents is None else self.latents[keep],
            kind=self.kind,
            bin_ms=self.bin_ms,
            attrs=self.attrs,
        )

    def tensor(self, device=None) -> torch.Tensor:
        return torch.as_tensor(self.x, dtype=torch.float32, device=device)


def behaviour_variables(ds) -> list[str]:
    return [v for v in ds.data_vars if len(ds[v].dims) == 3 and ds[v].dims[2] == f"{v}_axis"]


def load_trials(path: str | os.PathLike, *, behaviour: str | None = None, need_behaviour: bool = False) -> Trials:
    """Read a session store. ``behaviour`` names the decoded variable (None: the store's only one)."""
    ds = open_session(path)
    if "observations" in ds:
        kind, raw = "observations", ds["observations"].values
    else:
        kind, raw = "spikes", ds["spikes"].values
    raw = np.asarray(raw, dtype=np.float32)
    observed = np.isfinite(raw)
    x = np.where(observed, raw, 0.0).astype(np.float32)
    candidates = behaviour_variables(ds)
    y = None
    if behaviour is not None:
        if behaviour not in ds:
            raise InputError(path, behaviour, f"a behaviour variable (store has {candidates or 'none'})")
        y = ds[behaviour].values.astype(np.float32)
    elif len(candidates) == 1:
        y = ds[candidates[0]].values.astype(np.float32)
    elif need_behaviour:
        raise InputError(path, "behaviour", "exactly one behaviour variable, or erdiff.pairs.<pair>.behaviour set", got=candidates)
    if y is not None and not np.isfinite(y).all():
        y = np.nan_to_num(y)  # behaviour gaps are rare; a zero is scored like any other sample
    split = ds["split"].values.astype(str)
    bad = sorted(set(split) - set(SPLITS))
    if bad:
        raise InputError(path, "split", f"values in {SPLITS}", got=bad)
    latents = ds["latents"].values.astype(np.float32) if "latents" in ds else None
    return Trials(
        name=str(ds.attrs.get("name", os.path.basename(str(path)))),
        x=x,
        observed=observed,
        y=y,
        split=split,
        condition=ds["condition"].values.astype(str),
        latents=latents,
        kind=kind,
        bin_ms=float(ds.attrs["bin_ms"]),
        attrs=dict(ds.attrs),
    )


def match_channels(x: np.ndarray, n: int) -> np.ndarray:
    """Zero-pad or truncate the channel axis to ``n``: how the source read-in is applied to a target session
    whose units do not correspond to the source's (the "no alignment" floor and every method's starting point).

    x: (trial, time, channel) -> (trial, time, n)
    """
    if x.shape[-1] >= n:
        return x[..., :n]
    pad = np.zeros((*x.shape[:-1], n - x.shape[-1]), dtype=x.dtype)
    return np.concatenate([x, pad], axis=-1)
