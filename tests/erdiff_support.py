"""Test helpers for ERDiff: session stores built in the tests from the bundled npz pair and the generator's arrays
(stand-ins for `neurodyn convert` output, same contract: neurodyn.store.make_session)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neurodyn import store


def split_per_condition(labels: np.ndarray, fractions=(0.6, 0.2, 0.2), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    split = np.empty(len(labels), dtype=object)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_tr = int(round(fractions[0] * len(idx)))
        n_va = int(round(fractions[1] * len(idx)))
        split[idx[:n_tr]], split[idx[n_tr : n_tr + n_va]], split[idx[n_tr + n_va :]] = "train", "val", "test"
    return split.astype(str)


def bundled_session(npz: Path, name: str, *, trials: slice | None = None, units: int | None = None):
    d = np.load(npz)
    neural, pos, label = d["neural"], d["pos"], d["label"]
    if trials is not None:
        neural, pos, label = neural[trials], pos[trials], label[trials]
    if units is not None:
        neural = neural[..., :units]
    return store.make_session(
        name=name, spikes=neural, bin_ms=20.0, time_ms=20.0 * np.arange(neural.shape[1]), align_event="trial_start",
        source={"mirror_file": str(npz.name)}, split=split_per_condition(label), condition=label.astype(str),
        behaviour={"pos": (pos, ["x", "y"])},
    )


def synthetic_session(params: dict, seed: int, name: str):
    from neurodyn.simulate.erdiff_bernoulli import simulate_arrays

    a = simulate_arrays(params, seed)
    n, l, c = a["observations"].shape
    return store.make_session(
        name=name, spikes=np.zeros((n, l, 1), np.float32), bin_ms=20.0, time_ms=20.0 * np.arange(l), align_event="start_time",
        source={"simulator": "erdiff_bernoulli", "params": params, "seed": seed}, split=a["split"], condition=a["condition"],
        observations=a["observations"], latents=a["latents"],
    )
