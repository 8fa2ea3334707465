"""Data preparation for the DCF experiments, from session stores (docs/contracts.md §1).

Neural data (docs/papers.md §1 "Data"): held-in units, Gaussian smoothing (SD ``smooth_ms``, 40 ms in the paper)
of the spike counts of each whole trial, then resampling onto ``n_steps`` equal steps (the paper's 100 per
trial). Either the store's trials are used as they are (NLB stores: the 700 ms window around movement onset),
or — for continuous recordings such as the two full MC_Maze trials of the demo — every trial is cut into
windows of ``window.length_ms`` every ``window.stride_ms`` inside its observed span (NaN marks unobserved bins);
windows whose peak speed stays under ``min_peak_speed`` are dropped (per-window velocity R² needs movement).
The train / test split is by *source trial* (never a window of one trial on both sides): a seeded fraction, or
an explicit list of test trial ids.

Store fields read: ``spikes`` (trial, time, unit) with NaN outside the observed span, coords ``trial``, ``time``,
``heldout`` (unit), attrs ``bin_ms``; the behaviour variable named in config (``<var>`` (trial, time, axis);
a name ending in ``_pos`` is differentiated to a velocity); for video ``observations`` (trial, time, channel)
and attrs ``image_shape`` (else a square single-channel image is inferred from the channel count).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurodyn.errors import InputError
from neurodyn.utils.smoothing import gaussian_smooth


@dataclass
class NeuralData:
    """Windows of smoothed population activity.

    rates: (n, T, N) smoothed firing rates (spikes/s); counts: (n, T, N) spike counts per step (LFADS);
    velocity: (n, T, 2) behaviour velocity; position: (n, T, 2) (integrated when only velocity is stored);
    direction: (n,) reach-direction bin in [0, n_directions); split: (n,) "train" | "test";
    trial: (n,) source-trial id (str); start_ms: (n,) window start within the source trial; step_ms: float.
    mean / std: (N,) z-scoring statistics of the training rates.
    store_index / store_row: (n,) which store and which of its trials a window was cut from; span_start_bin: (n,)
    the store bin where that trial's observed span starts (window times are relative to it).
    """

    rates: np.ndarray
    counts: np.ndarray
    velocity: np.ndarray
    position: np.ndarray
    direction: np.ndarray
    split: np.ndarray
    trial: np.ndarray
    start_ms: np.ndarray
    step_ms: float
    mean: np.ndarray
    std: np.ndarray
    units: np.ndarray
    store_index: np.ndarray | None = None
    store_row: np.ndarray | None = None
    span_start_bin: np.ndarray | None = None

    def z(self, rates: np.ndarray | None = None) -> np.ndarray:
        return ((self.rates if rates is None else rates) - self.mean) / self.std

    def unz(self, z: np.ndarray) -> np.ndarray:
        return z * self.std + self.mean

    @property
    def train(self) -> np.ndarray:
        return np.flatnonzero(self.split == "train")

    @property
    def test(self) -> np.ndarray:
        return np.flatnonzero(self.split == "test")


def _gauss_smooth(x: np.ndarray, sd_bins: float) -> np.ndarray:
    """Along time (axis 0), edge bins repeated (``neurodyn.utils.smoothing.gaussian_smooth``)."""
    return gaussian_smooth(x, sd_bins, axis=0, edges="nearest")


def _observed_span(spikes: np.ndarray) -> tuple[int, int]:
    """First and one-past-last bin where every unit is observed. spikes: (time, unit)."""
    ok = np.flatnonzero(np.all(np.isfinite(spikes), axis=1))
    if ok.size == 0:
        return 0, 0
    return int(ok[0]), int(ok[-1]) + 1


def prepare_neural(stores: Sequence[Any], cfg: Mapping[str, Any], where: str = "dcf.neural.data") -> NeuralData:
    """Cut, smooth, resample and split the neural data of one or more session stores (xarray Datasets)."""
    rows: dict[str, list] = {k: [] for k in ("rates", "counts", "vel", "pos", "trial", "start", "store", "row", "lo")}
    n_steps = int(cfg["n_steps"])
    var = cfg["behaviour"]
    units_ref = None
    step_ms = None
    for i_store, ds in enumerate(stores):
        name = ds.attrs.get("name", "session")
        if "spikes" not in ds:
            raise InputError(name, "spikes", "a spikes (trial, time, unit) variable")
        if var not in ds:
            raise InputError(name, var, f"the behaviour variable {var!r} named in {where}.behaviour", got=sorted(ds.data_vars))
        bin_ms = float(ds.attrs["bin_ms"])
        keep = ~np.asarray(ds["heldout"].values, bool) if cfg["held_in_only"] else np.ones(ds.sizes["unit"], bool)
        units = np.asarray(ds["unit"].values)[keep]
        if units_ref is None:
            units_ref = units
        elif len(units) != len(units_ref):
            raise InputError(name, "unit", f"the same {len(units_ref)} units as the first store", got=len(units))
        spikes_all = np.asarray(ds["spikes"].values, np.float64)[:, :, keep]
        beh_all = np.asarray(ds[var].values, np.float64)
        if beh_all.shape[-1] < 2:
            raise InputError(name, var, "at least two axes (x, y)", got=beh_all.shape[-1])
        for i, trial_id in enumerate(np.asarray(ds["trial"].values)):
            spikes = spikes_all[i]
            lo, hi = _observed_span(spikes)
            if hi - lo < 2:
                continue
            counts = spikes[lo:hi]
            rates = _gauss_smooth(counts / (bin_ms / 1000.0), float(cfg["smooth_ms"]) / bin_ms)
            beh = beh_all[i, lo:hi, :2]
            beh = np.where(np.isfinite(beh), beh, np.nan)
            if np.isnan(beh).any():  # short gaps in behaviour: interpolate along time
                t = np.arange(len(beh))
                for a in range(2):
                    good = np.isfinite(beh[:, a])
                    beh[:, a] = np.interp(t, t[good], beh[good, a]) if good.any() else 0.0
            if var.endswith("_pos"):
                pos = _gauss_smooth(beh, float(cfg["smooth_ms"]) / bin_ms)
                vel = np.gradient(pos, bin_ms / 1000.0, axis=0)
            else:
                vel = beh
                pos = np.cumsum(beh, axis=0) * (bin_ms / 1000.0)
            cum = np.concatenate([np.zeros((1, counts.shape[1])), np.cumsum(counts, 0)])  # (T+1, N) at bin edges
            span_ms = (hi - lo) * bin_ms
            window = cfg["window"]
            if window is None:
                starts, length = [0.0], span_ms
            else:
                length = float(window["length_ms"])
                stride = float(window["stride_ms"])
                starts = list(np.arange(0.0, span_ms - length + 1e-9, stride))
            step = length / n_steps
            step_ms = step if step_ms is None else step_ms
            for start in starts:
                centres = start + (np.arange(n_steps) + 0.5) * step  # ms from the span's first bin edge
                t_bins = centres / bin_ms - 0.5  # fractional bin index of the centres
                idx = np.arange(hi - lo)
                speed = np.hypot(np.interp(t_bins, idx, vel[:, 0]), np.interp(t_bins, idx, vel[:, 1]))
                if speed.max() < float(cfg["min_peak_speed"]):
                    continue  # a window without movement has no velocity variance to explain
                rows["rates"].append(np.stack([np.interp(t_bins, idx, rates[:, u]) for u in range(rates.shape[1])], 1))
                rows["vel"].append(np.stack([np.interp(t_bins, idx, vel[:, a]) for a in range(2)], 1))
                rows["pos"].append(np.stack([np.interp(t_bins, idx, pos[:, a]) for a in range(2)], 1))
                edges = (start + np.arange(n_steps + 1) * step) / bin_ms  # step edges in bins
                cum_at = np.stack([np.interp(edges, np.arange(hi - lo + 1), cum[:, u]) for u in range(cum.shape[1])], 1)
                rows["counts"].append(np.diff(cum_at, axis=0))
                rows["trial"].append(f"{name}:{trial_id}")
                rows["start"].append(start)
                rows["store"].append(i_store)
                rows["row"].append(i)
                rows["lo"].append(lo)
    if not rows["rates"]:
        raise InputError(where, "window", "at least one window inside the observed span of a trial")
    trial = np.asarray(rows["trial"])
    split = _split(trial, cfg["split"], where)
    rates = np.stack(rows["rates"]).astype(np.float32)
    train = split == "train"
    mean = rates[train].mean(axis=(0, 1))
    std = np.maximum(rates[train].std(axis=(0, 1)), float(cfg["min_std_hz"]))
    pos = np.stack(rows["pos"]).astype(np.float32)
    return NeuralData(
        rates=rates,
        counts=np.stack(rows["counts"]).astype(np.float32),
        velocity=np.stack(rows["vel"]).astype(np.float32),
        position=pos,
        direction=reach_direction(pos, int(cfg["n_directions"])),
        split=split,
        trial=trial,
        start_ms=np.asarray(rows["start"], np.float64),
        step_ms=float(step_ms),
        mean=mean.astype(np.float32),
        std=std.astype(np.float32),
        units=units_ref,
        store_index=np.asarray(rows["store"], np.int64),
        store_row=np.asarray(rows["row"], np.int64),
        span_start_bin=np.asarray(rows["lo"], np.int64),
    )


def _split(trial: np.ndarray, cfg: Mapping[str, Any], where: str) -> np.ndarray:
    sources = np.unique(trial)
    if cfg.get("test_trials"):
        wanted = {str(t) for t in cfg["test_trials"]}
        # a test trial may be named by its full "<session>:<id>" or by its id alone
        test = {s for s in sources if s in wanted or any(part in wanted for part in s.split(":", 1))}
        if not test:
            raise InputError(where, "split.test_trials", f"ids among the trials {sorted(sources)[:6]}...", got=sorted(wanted))
    else:
        rng = np.random.default_rng(int(cfg["seed"]))  # the same split for every model and seed
        n_test = int(round(float(cfg["test_fraction"]) * len(sources)))
        test = set(rng.permutation(sources)[:n_test])
    out = np.array(["test" if t in test else "train" for t in trial])
    if not (out == "train").any() or not (out == "test").any():
        raise InputError(where, "split", "a split with both train and test trials", got={"n_sources": len(sources)})
    return out


def reach_direction(position: np.ndarray, n_directions: int) -> np.ndarray:
    """Bin the net displacement of each window into ``n_directions`` equal angular sectors. position: (n, T, 2)."""
    disp = position[:, -1] - position[:, 0]
    angle = np.mod(np.arctan2(disp[:, 1], disp[:, 0]), 2 * math.pi)
    return np.floor(angle / (2 * math.pi / n_directions)).astype(int) % n_directions


# -- video -----------------------------------------------------------------------------------------------------
@dataclass
class VideoData:
    """frames: (n_videos, T, C*H*W) float32; image_shape: (C, H, W); latents: (n_videos, T, k) or None."""

    frames: np.ndarray
    image_shape: tuple[int, int, int]
    latents: np.ndarray | None


def video_from_store(ds: Any) -> VideoData:
    name = ds.attrs.get("name", "session")
    if "observations" not in ds:
        raise InputError(name, "observations", "an observations (trial, time, channel) variable (video frames)")
    frames = np.asarray(ds["observations"].values, np.float32)
    n_chan = frames.shape[-1]
    shape = ds.attrs.get("image_shape")
    if shape is None:
        side = int(round(math.sqrt(n_chan)))
        if side * side != n_chan:
            raise InputError(name, "attrs.image_shape", "an image shape (C, H, W), or square single-channel frames", got=n_chan)
        shape = (1, side, side)
    shape = tuple(int(s) for s in shape)
    if int(np.prod(shape)) != n_chan:
        raise InputError(name, "attrs.image_shape", f"C*H*W == {n_chan}", got=shape)
    ok = np.all(np.isfinite(frames), axis=(0, 2))  # time bins observed in every video
    latents = np.asarray(ds["latents"].values, np.float32)[:, ok] if "latents" in ds else None
    return VideoData(frames=frames[:, ok], image_shape=shape, latents=latents)


def video_from_file(path: str | os.PathLike, where: str = "--inputs frames") -> VideoData:
    """User-supplied video (mouse behaviour, birdsong spectrograms): an .npy array or an .npz with key
    ``frames``, shaped (n_trials, n_frames, H, W) or (n_frames, H, W) (one trial), values scaled to [0, 1]."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "", "a .npy or .npz file of frames (no such file)")
    try:
        loaded = np.load(path, allow_pickle=False)
        frames = loaded["frames"] if isinstance(loaded, np.lib.npyio.NpzFile) else loaded
    except (ValueError, KeyError, OSError) as err:
        raise InputError(path, "frames", f"an array 'frames' (n_trials, n_frames, H, W) ({err})") from err
    frames = np.asarray(frames, np.float32)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[1] < 2:
        raise InputError(path, "frames", "shape (n_trials, n_frames >= 2, H, W) or (n_frames, H, W)", got=frames.shape)
    if not np.isfinite(frames).all() or frames.min() < 0 or frames.max() > 1:
        raise InputError(path, "frames", "finite values in [0, 1]", got=(float(np.nanmin(frames)), float(np.nanmax(frames))))
    n, t, h, w = frames.shape
    return VideoData(frames=frames.reshape(n, t, h * w), image_shape=(1, h, w), latents=None)


def windows(series: np.ndarray, history: int) -> np.ndarray:
    """All (k − h .. k + 1) windows of each sequence: (n, T, D) -> (n * (T − h − 1), h + 2, D)."""
    n, t, d = series.shape
    w = history + 2
    if t < w:
        raise InputError("dcf", "history", f"sequences longer than h + 1 = {w - 1} steps", got=t)
    idx = np.arange(t - w + 1)[:, None] + np.arange(w)[None]
    return series[:, idx].reshape(-1, w, d)
