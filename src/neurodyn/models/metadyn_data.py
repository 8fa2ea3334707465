"""Data side of the Meta-Dynamical SSM: session stores → tensors, trial choice, and the r² metrics.

Store fields used (store.py contract): ``observations`` (trial, time, channel) for Gaussian data or ``spikes``
(trial, time, unit) for Poisson data; coords ``split`` (trial), ``heldout`` (unit), ``time`` (ms); attrs
``bin_ms``. Held-out units (NLB co-smoothing targets) are dropped: their test-trial values are NaN.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurodyn.errors import InputError
from neurodyn.utils import smoothing


@dataclass
class SessionData:
    """One recording ready for the model. y: (trials, T, N) float32; split: (trials,) str."""

    name: str
    y: np.ndarray
    split: np.ndarray
    bin_ms: float
    time_ms: np.ndarray
    condition: np.ndarray
    behaviour: np.ndarray | None = None  # (trials, T, axes) when the store has the requested variable


def load_session(
    path: str | os.PathLike,
    *,
    likelihood: str,
    bin_ms: float | None = None,
    window_ms: list[float] | None = None,
    max_bins: int | None = None,
    behaviour: str | None = None,
    behaviour_derivative: bool = False,
) -> SessionData:
    """Open a session store and return the variable the likelihood models, rebinned to ``bin_ms``.

    Counts are summed over ``bin_ms / attrs.bin_ms`` bins (an integer, else InputError); observations are
    averaged. ``window_ms`` keeps bins whose left edge lies in [start, stop); ``max_bins`` crops trials.
    ``behaviour_derivative``: the behaviour variable's time derivative per second (e.g. position → velocity).
    """
    from neurodyn.store import open_session

    ds = open_session(path)
    var = "observations" if likelihood == "gaussian" else "spikes"
    if var not in ds:
        expected = "'observations' (Gaussian likelihood)" if var == "observations" else "'spikes' (Poisson likelihood)"
        raise InputError(path, var, f"a variable {expected}")
    arr = ds[var]
    if var == "spikes" and "heldout" in ds.coords:
        arr = arr.isel(unit=~ds["heldout"].values.astype(bool))
    y = np.asarray(arr.values, dtype=np.float32)
    time_ms = np.asarray(ds["time"].values, dtype=np.float64)
    beh = None
    if behaviour and behaviour in ds:
        beh = np.asarray(ds[behaviour].values, dtype=np.float32)
    native = float(ds.attrs["bin_ms"])
    if window_ms is not None:
        keep = (time_ms >= window_ms[0]) & (time_ms < window_ms[1])
        if keep.sum() >= 2:  # stores cut to a shorter window keep theirs (the run record notes the bins used)
            y, time_ms = y[:, keep], time_ms[keep]
            beh = beh[:, keep] if beh is not None else None
    if bin_ms is not None and abs(bin_ms - native) > 1e-9:
        factor = bin_ms / native
        if abs(factor - round(factor)) > 1e-6 or factor < 1:
            raise InputError(path, "attrs.bin_ms", f"a bin width dividing {bin_ms} ms", got=native)
        f = int(round(factor))
        n = (y.shape[1] // f) * f
        y = y[:, :n].reshape(y.shape[0], n // f, f, -1)
        y = y.sum(2) if var == "spikes" else y.mean(2)
        time_ms = time_ms[:n:f]
        if beh is not None:
            beh = beh[:, :n].reshape(beh.shape[0], n // f, f, -1).mean(2)
        native = bin_ms
    if max_bins is not None:
        y, time_ms = y[:, :max_bins], time_ms[:max_bins]
        beh = beh[:, :max_bins] if beh is not None else None
    if beh is not None and behaviour_derivative:
        if beh.shape[1] < 2:
            raise InputError(path, behaviour, "at least 2 time bins to differentiate", got=beh.shape[1])
        beh = np.gradient(beh, native / 1000.0, axis=1).astype(np.float32)
    # units never observed in a trial (NaN outside obs_intervals) carry no evidence: zero counts, kept out of
    # the metrics by the caller's choice of trials; whole-NaN units are removed.
    finite_units = np.isfinite(y).any(axis=(0, 1))
    y = np.nan_to_num(y[:, :, finite_units], nan=0.0)
    split = np.asarray(ds["split"].values).astype(str)
    condition = np.asarray(ds["condition"].values).astype(str)
    return SessionData(str(ds.attrs.get("name", path)), y, split, native, time_ms, condition, beh)


def choose_trials(data: SessionData, *, seed: int, eval_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(pool, evaluation) trial indices: the store's train/test split when it has both, else a seeded split."""
    train = np.flatnonzero(data.split == "train")
    test = np.flatnonzero(data.split == "test")
    if len(train) and len(test):
        return train, test
    order = np.random.default_rng(seed).permutation(len(data.y))
    n_eval = max(1, int(round(eval_fraction * len(order))))
    return np.sort(order[n_eval:]), np.sort(order[:n_eval])


def gaussian_smooth(y: np.ndarray, sd_bins: float) -> np.ndarray:
    """Smooth counts along time (axis 1) with a normalised Gaussian kernel (sd in bins); 0 leaves y as is."""
    if sd_bins <= 0:
        return y
    return smoothing.gaussian_smooth(y.astype(np.float64), sd_bins, axis=1, edges="nearest").astype(np.float32)


def r2_pooled(target: np.ndarray, pred: np.ndarray, reference_mean: np.ndarray | None = None) -> float:
    """Variance-weighted r² over (trials, time, channels): 1 − Σ(y − ŷ)² / Σ(y − ȳ_c)².

    ȳ_c is each channel's mean over the evaluated trials and bins (or ``reference_mean`` (N,) when given).
    """
    target = target.reshape(-1, target.shape[-1]).astype(np.float64)
    pred = pred.reshape(-1, pred.shape[-1]).astype(np.float64)
    mean = target.mean(0) if reference_mean is None else reference_mean
    sst = ((target - mean) ** 2).sum()
    return float(1.0 - ((target - pred) ** 2).sum() / sst) if sst > 0 else float("nan")


def session_from_recording(recording, *, bin_ms: float | None = None):
    """A session store Dataset built straight from a ``SimulatedRecording`` (tests and benchmarks only: the
    pipeline writes NWB and converts it). Trials are cut at the recording's own sampling (one sample a bin)."""
    from neurodyn.store import make_session

    n_trials = len(recording.trials["start_time"])
    bin_ms = bin_ms or 1000.0 / recording.rate_hz
    n_samples = recording.latents.shape[0]
    T = n_samples // n_trials
    latents = recording.latents.reshape(n_trials, T, -1)
    if recording.observations is not None:
        obs = recording.observations.reshape(n_trials, T, -1)
        spikes = np.zeros((n_trials, T, 0), np.float32)
    else:
        obs = None
        n_units = len(recording.spike_times)
        spikes = np.zeros((n_trials * T, n_units), np.float32)
        for u, times in enumerate(recording.spike_times):
            idx = np.floor((np.asarray(times) - recording.start_s) * recording.rate_hz).astype(int)
            np.add.at(spikes[:, u], idx[(idx >= 0) & (idx < n_trials * T)], 1)
        spikes = spikes.reshape(n_trials, T, n_units)
    return make_session(
        name=recording.name,
        spikes=spikes,
        bin_ms=bin_ms,
        time_ms=np.arange(T) * bin_ms,
        align_event="start_time",
        source={"simulator": recording.name, "params": dict(recording.params)},
        split=recording.trials["split"],
        condition=recording.trials["condition"],
        latents=latents,
        observations=obs,
    )


def family_values(sessions: Mapping[str, Any], names: list[str], key: str) -> list[float | None]:
    """The generator parameter ``key`` of each named simulated session (None for other sessions)."""
    out: list[float | None] = []
    for name in names:
        sim = sessions.get(name, {}).get("source", {}).get("simulate")
        out.append(float(sim["params"][key]) if sim and key in sim["params"] else None)
    return out


def load_all(paths: Sequence[str], params: Mapping[str, Any]) -> list[SessionData]:
    """Every session store of ``paths`` with the experiment's data options (``params["data"]``, ``likelihood``)."""
    d = params["data"]
    return [
        load_session(p, likelihood=params["likelihood"], bin_ms=d.get("bin_ms"), window_ms=d.get("window_ms"),
                     max_bins=d.get("max_bins"), behaviour=d.get("behaviour"),
                     behaviour_derivative=d.get("behaviour_derivative", False))
        for p in paths
    ]
