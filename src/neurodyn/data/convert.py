"""Convert an NWB file (NLB layout) or a bundled npz recording into a zarr session store.

``neurodyn convert --input FILE --spec JSON --out STORE.zarr`` — the spec is ``SessionSources.convert_spec``:
``name``, ``bin_ms``, ``kind`` (dandi | locked | mirror | simulate), ``format`` (nwb | erdiff_npz |
nlb_1ms_npz), ``provenance``, optional ``nlb`` (align_event, window_ms, behaviour, lag_ms, forward_ms,
psth_conditions, ...), optional ``window_ms`` / ``align_event`` overrides, optional ``split`` (fractions, drawn
per condition with ``seed``). The store is written atomically (``store.write_session``): on any error nothing is
left behind and the CLI prints one line ``file: field: expected ...``.

What goes where (NWB):

- ``spikes`` (trial, time, unit): counts in each window, held-in and held-out units together (``heldout`` coord),
  NaN where the unit was not observed — binned exactly as nlb_tools does (see ``neurodyn.data.binning``), one
  unit at a time, never as a dense 1 ms matrix. ``spikes_forward``: the ``forward_ms`` after the window.
- behaviour: every TimeSeries in ``processing/behavior`` (named as in the file, axes from ``comments``) on the
  same bins, FIR-decimated as nlb_tools does; plus ``<behaviour>_lagged``: the benchmark's decoding target, the
  named behaviour over the window shifted by ``lag_ms`` (behaviour lags spikes). NLB test files have no behaviour
  module at all; then there is none in the store (``attrs.behaviour_note`` says so).
- simulated files (``neurodyn.simulate.nwb_writer``): ``acquisition/observations`` -> ``observations``,
  ``processing/ground_truth/latents`` -> ``latents`` (samples at the bin left edges, never filtered); the
  simulator, its parameters, seed and attrs (JSON in ``general/notes``) -> ``attrs.source``.
- coords: ``split`` from the trials table, ``condition`` the psth_conditions columns joined
  (``trial_type=3|trial_version=1``; a table without any of them — NLB test files — gives ``unknown``),
  ``window_start_s`` the session-clock time of each trial's first bin edge.
- trials whose alignment event is NaN are dropped, as nlb_tools drops them (count in ``attrs.dropped_trials``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurodyn.data import binning
from neurodyn.errors import InputError
from neurodyn.store import make_session, write_session
from neurodyn.utils.atomic import check_replaceable
from neurodyn.utils.jobargs import add_job_arguments, parse_job_args

SPEC_KEYS = {"name", "bin_ms", "kind", "format", "provenance", "nlb", "window_ms", "align_event", "split", "seed", "move_onset"}
MOVE_ONSET_KEYS = {"series", "after", "fraction", "min_peak"}
REQUIRED_SPEC = ("name", "bin_ms", "kind", "format", "provenance")
NLB_KEYS = {"name", "align_event", "window_ms", "behaviour", "lag_ms", "forward_ms", "psth_conditions", "psth_kernel_sd_ms",
            "align_jitter_max_ms", "align_jitter_seed", "trial_fields"}
FORMATS = ("nwb", "erdiff_npz", "nlb_1ms_npz")
OBSERVATIONS = "acquisition/observations"
LATENTS = "processing/ground_truth/latents"
BEHAVIOUR_MODULE = "processing/behavior"


# -- spec --------------------------------------------------------------------------------------------------------
@dataclass
class Window:
    """How trials are cut: bins of ``bin_ms`` over [start_ms, stop_ms) around ``align_event``."""

    align_event: str
    start_ms: float
    stop_ms: float
    bin_ms: int
    forward_ms: float
    behaviour: str | None
    lag_ms: float
    conditions: list[str]

    @property
    def n_bins(self) -> int:
        return int(round((self.stop_ms - self.start_ms) / self.bin_ms))

    @property
    def n_forward(self) -> int:
        return int(round(self.forward_ms / self.bin_ms))


def parse_spec(text: str | Mapping[str, Any]) -> dict[str, Any]:
    where = "--params"  # the conversion spec is the convert job's params
    if isinstance(text, str):
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(where, "", f"a JSON object ({err.msg})") from err
    else:
        spec = dict(text)
    if not isinstance(spec, dict):
        raise InputError(where, "", "a JSON object", got=type(spec).__name__)
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise InputError(where, unknown[0], f"one of the known keys [{', '.join(sorted(SPEC_KEYS))}]")
    for key in REQUIRED_SPEC:
        if key not in spec:
            raise InputError(where, key, "this key to be present (the spec comes from SessionSources.convert_spec)")
    if spec["format"] not in FORMATS:
        raise InputError(where, "format", f"one of {list(FORMATS)}", got=spec["format"])
    bin_ms = spec["bin_ms"]
    if not isinstance(bin_ms, (int, float)) or bin_ms <= 0 or abs(bin_ms - round(bin_ms)) > 1e-9:
        raise InputError(where, "bin_ms", "a whole number of milliseconds >= 1 (spikes are binned on nlb_tools' 1 ms grid)", got=bin_ms)
    if "nlb" in spec:
        if not isinstance(spec["nlb"], dict):
            raise InputError(where, "nlb", "an object (an nlb window definition)")
        unknown = sorted(set(spec["nlb"]) - NLB_KEYS)
        if unknown:
            raise InputError(where, f"nlb.{unknown[0]}", f"one of the known keys [{', '.join(sorted(NLB_KEYS))}]")
    if "split" in spec:
        _check_split(spec["split"], where)
    return spec


def _check_split(split: Any, where: str) -> None:
    if not isinstance(split, dict) or not split or any(k not in ("train", "val", "test") for k in split):
        raise InputError(where, "split", "fractions {train, val, test} (each in [0, 1], summing to 1)", got=split)
    values = list(split.values())
    if any(not isinstance(v, (int, float)) or v < 0 for v in values) or abs(sum(values) - 1) > 1e-6:
        raise InputError(where, "split", "fractions {train, val, test} (each in [0, 1], summing to 1)", got=split)


def window_from_spec(spec: Mapping[str, Any]) -> Window:
    nlb = spec.get("nlb", {})
    align = spec.get("align_event", nlb.get("align_event"))
    window = spec.get("window_ms", nlb.get("window_ms"))
    if align is None:
        raise InputError("--params", "align_event", "an alignment event (spec.align_event or spec.nlb.align_event)")
    if window is None:
        raise InputError("--params", "window_ms", "a window [start, stop] in ms (spec.window_ms or spec.nlb.window_ms)")
    if not isinstance(window, (list, tuple)) or len(window) != 2 or not window[0] < window[1]:
        raise InputError("--params", "window_ms", "[start, stop] in ms with start < stop", got=window)
    bin_ms = int(round(spec["bin_ms"]))
    length = window[1] - window[0]
    if abs(length / bin_ms - round(length / bin_ms)) > 1e-9:
        raise InputError("--params", "window_ms", f"a length that is a whole number of {bin_ms} ms bins", got=window)
    forward = float(nlb.get("forward_ms", 0) or 0)
    if abs(forward / bin_ms - round(forward / bin_ms)) > 1e-9:
        raise InputError("--params", "nlb.forward_ms", f"a whole number of {bin_ms} ms bins", got=forward)
    return Window(
        align_event=str(align), start_ms=float(window[0]), stop_ms=float(window[1]), bin_ms=bin_ms,
        forward_ms=forward, behaviour=nlb.get("behaviour"), lag_ms=float(nlb.get("lag_ms", 0) or 0),
        conditions=list(nlb.get("psth_conditions", []) or []),
    )


# -- trials ------------------------------------------------------------------------------------------------------
def condition_labels(columns: Mapping[str, np.ndarray], fields: list[str], n: int, where: str) -> tuple[np.ndarray, list[str]]:
    """Per-trial condition "a=1|b=2" from the named columns; ``unknown`` when the table has none of them."""
    present = [f for f in fields if f in columns]
    if not present:
        if "condition" in columns:  # simulations write their condition directly
            return np.asarray([_fmt(v) for v in columns["condition"]]), ["condition"]
        return np.full(n, "unknown"), []
    missing = [f for f in fields if f not in columns]
    if missing:
        raise InputError(where, f"intervals/trials/{missing[0]}", f"the condition columns {fields} (nlb.psth_conditions); the table has {sorted(columns)}")
    labels = ["|".join(f"{f}={_fmt(columns[f][i])}" for f in present) for i in range(n)]
    return np.asarray(labels), present


def _fmt(value: Any) -> str:
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    return str(value)


def assign_split(conditions: np.ndarray, fractions: Mapping[str, float], seed: int) -> np.ndarray:
    """Deterministic train/val/test split drawn per condition (stratified), seeded.

    Within each condition the trials are permuted with ``np.random.default_rng([seed, i])`` (i = condition rank)
    and cut at the cumulative fractions (rounded), so every condition appears in every non-empty part.
    """
    split = np.empty(len(conditions), dtype=object)
    names = [k for k in ("train", "val", "test") if fractions.get(k, 0) > 0]
    cum = np.cumsum([fractions[k] for k in names])
    for i, cond in enumerate(sorted(set(conditions.tolist()))):
        idx = np.flatnonzero(conditions == cond)
        idx = idx[np.random.default_rng([seed, i]).permutation(len(idx))]
        cuts = np.round(cum * len(idx)).astype(int)
        start = 0
        for name, stop in zip(names, cuts):
            split[idx[start:stop]] = name
            start = stop
    return split.astype(str)


# -- NWB ---------------------------------------------------------------------------------------------------------
def convert_nwb(path: Path, spec: Mapping[str, Any]):
    from neurodyn.data.nwb import NWBReader

    win = window_from_spec(spec)
    with NWBReader(path) as nwb:
        trial_ids, cols = nwb.trials()
        derived = {}
        if "move_onset" in spec and win.align_event not in cols:  # e.g. DANDI 000688: no movement-onset column
            cols[win.align_event] = derive_move_onset(nwb, cols, spec["move_onset"], path)
            derived = {"derived_align_event": {"column": win.align_event, **spec["move_onset"]}}
        n_all = len(trial_ids)
        if n_all == 0:
            raise InputError(path, "intervals/trials", "at least one trial (the trials table is empty)")
        if win.align_event not in cols:
            raise InputError(path, f"intervals/trials/{win.align_event}", f"the alignment column named by the config; the table has {sorted(cols)}")
        align_us = binning.seconds_to_us(cols[win.align_event])
        jitter_ms, trial_coords = nlb_trial_extras(cols, spec.get("nlb") or {}, win, path)
        if jitter_ms is not None:  # DMFC_RSG: the benchmark's random alignment jitter of non-test windows
            align_us = align_us + np.round(np.nan_to_num(jitter_ms) * 1000).astype(align_us.dtype)
        keep = np.isfinite(np.asarray(cols[win.align_event], np.float64))
        if not keep.any():
            raise InputError(path, f"intervals/trials/{win.align_event}", "at least one trial with a finite alignment time")
        trial_ids, align_us = trial_ids[keep], align_us[keep]
        cols = {k: v[keep] for k, v in cols.items()}
        trial_coords = {k: ("trial", v[keep]) for k, v in trial_coords.items()}
        n = len(trial_ids)
        first = binning.first_bin(align_us, win.start_ms, win.bin_ms)  # (T,) in bins
        _check_windows(path, trial_ids, first, win, cols)

        # -- spikes, one unit at a time (units in groups, so the (trial, time, unit) writes are not 1-wide) -------
        n_total = win.n_bins + win.n_forward
        counts = CompactCounts((n, n_total, nwb.n_units))
        offsets = binning.window_offsets(first, n_total)
        dropped: dict[str, int] = {"outside_obs_intervals": 0}
        prev_iv, lo, hi, unobserved = None, None, None, None
        group = 16
        for g0 in range(0, nwb.n_units, group):
            units = range(g0, min(g0 + group, nwb.n_units))
            block = np.empty((len(units), n, n_total), counts.codes.dtype)
            for j, u in enumerate(units):
                iv = nwb.obs_intervals(u)
                if prev_iv is None or not np.array_equal(iv, prev_iv):  # NLB units share their intervals
                    lo, hi = binning.interval_ms_bounds(iv)
                    unobserved = ~binning.bins_observed(first, n_total, win.bin_ms, lo, hi)
                    prev_iv = iv
                c = binning.count_spikes(nwb.spike_times(u), first, n_total, win.bin_ms, lo, hi, offsets=offsets, stats=dropped)
                if c.size and c.max() >= counts.nan_code:
                    counts.widen(int(c.max()))
                    block = block.astype(counts.codes.dtype)
                block[j] = c
                block[j][unobserved] = counts.nan_code
            counts.codes[:, :, units.start : units.stop] = block.transpose(1, 2, 0)
            del block

        # -- behaviour ----------------------------------------------------------------------------------------
        behaviour, notes = {}, {}
        series = nwb.series_in(BEHAVIOUR_MODULE)
        if win.behaviour and series and win.behaviour not in series:
            raise InputError(path, f"{BEHAVIOUR_MODULE}/{win.behaviour}", f"the behaviour TimeSeries named by the config (nlb.behaviour); the file has: {', '.join(sorted(series))}")
        if not series:
            notes["behaviour_note"] = f"no {BEHAVIOUR_MODULE} module in the file (NLB test files hold no behaviour)"
        ts_cache: dict = {}
        for name, info in sorted(series.items()):
            try:
                behaviour[name] = (_resample_series(nwb, info, first, win.n_bins, win.bin_ms, True, ts_cache), info.columns)
            except _OffGrid as off:
                if name == win.behaviour:
                    raise InputError(path, info.path, str(off)) from None
                notes.setdefault("behaviour_skipped", {})[name] = str(off)
        if win.behaviour and win.behaviour in behaviour:
            lag_first = binning.first_bin(align_us, win.start_ms + win.lag_ms, win.bin_ms)
            info = series[win.behaviour]
            lagged = _resample_series(nwb, info, lag_first, win.n_bins, win.bin_ms, True, ts_cache)
            behaviour[f"{win.behaviour}_lagged"] = (lagged, info.columns)

        # -- simulated ground truth ---------------------------------------------------------------------------
        latents = observations = None
        extra_coords: dict[str, Any] = {}
        for where, dim in ((OBSERVATIONS, "channel"), (LATENTS, "latent")):
            if where not in nwb.h5:
                continue
            info = nwb.series(where)
            try:
                values = _resample_series(nwb, info, first, win.n_bins, win.bin_ms, False, ts_cache)
            except _OffGrid as off:
                raise InputError(path, where, str(off)) from None
            extra_coords[dim] = info.columns
            observations, latents = (values, latents) if dim == "channel" else (observations, values)
        simulation = _simulation_notes(nwb.notes(), path) if spec["kind"] == "simulate" else None
        heldout, unit_ids, n_spikes_in_file = nwb.heldout, nwb.unit_ids, nwb.n_spikes

    where = str(path)
    condition, cond_fields = condition_labels(cols, win.conditions, n, where)
    if "split" in spec:
        split = assign_split(condition, spec["split"], int(spec.get("seed", 0)))
        notes["split_note"] = f"drawn per condition from fractions {spec['split']} with seed {spec.get('seed', 0)}"
    elif "split" in cols:
        split = np.asarray(cols["split"]).astype(str)
    else:
        raise InputError(path, "intervals/trials/split", "a split column (train/val/test/none), or spec.split fractions")
    source = dict(spec["provenance"])
    if simulation is not None:
        source.update(simulation)
    attrs = {
        "nlb": spec.get("nlb"),
        "condition_fields": cond_fields,
        "dropped_trials": int(n_all - n),
        "n_spikes_in_file": int(n_spikes_in_file),
        "spikes_dropped": {**dropped, "why": "nlb_tools' semantics: a spike whose 1 ms bin lies outside its unit's obs_intervals is not counted"},
        "behaviour_lag_ms": win.lag_ms if win.behaviour in behaviour else None,
        "behaviour_resampling": "nlb_tools: 501-tap Hamming FIR (scipy.signal.decimate n=500) sampled at each bin's left edge; 1 ms bins unfiltered",
        "spikes_binning": "nlb_tools: 1 ms bin int(round(t*1000, 6)) from t0 = 0, summed over bin_ms; NaN where the bin's first ms is outside obs_intervals",
        "input_format": "nwb",
        **derived,
        **notes,
    }
    # spikes are written block-wise from the compact counts (see CompactCounts); the Dataset holds placeholders
    n_units = len(unit_ids)
    ds = make_session(
        name=spec["name"], spikes=np.broadcast_to(np.float32(np.nan), (n, win.n_bins, n_units)), bin_ms=win.bin_ms,
        time_ms=win.start_ms + win.bin_ms * np.arange(win.n_bins), align_event=win.align_event, source=source,
        trial_ids=trial_ids, unit_ids=unit_ids, heldout=heldout, split=split, condition=condition, behaviour=behaviour,
        spikes_forward=np.broadcast_to(np.float32(np.nan), (n, win.n_forward, n_units)) if win.n_forward else None,
        latents=latents, observations=observations, attrs=attrs,
    )
    ds = ds.assign_coords(window_start_s=("trial", first * win.bin_ms / 1000.0), **extra_coords, **trial_coords)
    return ds, counts.filler(win.n_bins, win.n_forward)


def nlb_trial_extras(cols: Mapping[str, np.ndarray], nlb: Mapping[str, Any], win: Window, path: Path):
    """(jitter_ms or None, {coord: values}) for every trial of the file, from the nlb window definition.

    ``trial_fields``: trials columns kept as per-trial coords ``trial_<field>`` (float), e.g. DMFC_RSG's
    is_eye, theta, is_short, ts, tp — the benchmark's behaviour for that dataset (its tp corr needs them); a
    field the file lacks (NLB test files) is left out (the rehearsal found Area2_Bump's test file has none).
    ``align_jitter_max_ms`` (> 0): the benchmark's DMFC_RSG jitter (``metrics.nlb.dmfc_jitter_ms``: non-test
    windows move later by 0…clip(window − tp, 0, max) ms, drawn with ``align_jitter_seed``); kept as the coord
    ``align_jitter_ms`` so that every later step knows where each window really lies.
    """
    from neurodyn.metrics.nlb import dmfc_jitter_ms

    coords: dict[str, np.ndarray] = {}
    for field in nlb.get("trial_fields") or []:
        if field in cols:  # NLB test files hold only start/stop, the alignment event and split: fields are kept where present
            coords[f"trial_{field}"] = np.asarray(cols[field]).astype(np.float64)
    jitter = None
    top = float(nlb.get("align_jitter_max_ms") or 0)
    if top > 0:
        if "split" not in cols:
            raise InputError(path, "intervals/trials/split", "a trials column (nlb.align_jitter_max_ms jitters non-test trials)")
        only_test = bool(np.all(np.asarray(cols["split"]).astype(str) == "test"))
        if "tp" not in cols and not only_test:
            raise InputError(path, "intervals/trials/tp", "a trials column (nlb.align_jitter_max_ms: the jitter is at most window - tp)")
        tp = np.asarray(cols["tp"], np.float64) if "tp" in cols else np.zeros(len(cols["split"]))
        jitter = dmfc_jitter_ms(tp, cols["split"], window_ms=win.stop_ms - win.start_ms, max_ms=top,
                                seed=int(nlb.get("align_jitter_seed", 0) or 0))
        coords["align_jitter_ms"] = jitter
    return jitter, coords


def derive_move_onset(nwb, cols: Mapping[str, np.ndarray], rule: Mapping[str, Any], path: Path) -> np.ndarray:
    """Movement onset per trial from a behaviour series' speed, for recordings whose trials table has none.

    ``rule`` (config ``sessions.<name>.move_onset``): ``series`` — a TimeSeries of ``processing/behavior``
    (a name ending in ``_pos`` is differentiated, any other is taken as a velocity); ``after`` — the trials
    column from which to search (e.g. ``go_cue_time``); ``fraction`` — onset is the first sample after it at
    which the speed reaches this fraction of the trial's peak speed (peak searched up to ``stop_time``);
    ``min_peak`` — trials whose peak speed is below this (the series' units per second) get NaN (dropped, like
    trials without an alignment time). Times are the samples' own times, in seconds.
    """
    unknown = sorted(set(rule) - MOVE_ONSET_KEYS)
    if unknown:
        raise InputError("--params", f"move_onset.{unknown[0]}", f"one of the known keys [{', '.join(sorted(MOVE_ONSET_KEYS))}]")
    for key in ("series", "after", "fraction"):
        if key not in rule:
            raise InputError("--params", f"move_onset.{key}", "this key (config sessions.<name>.move_onset)")
    series = nwb.series_in(BEHAVIOUR_MODULE)
    name = rule["series"]
    if name not in series:
        raise InputError(path, f"{BEHAVIOUR_MODULE}/{name}", f"the series named by move_onset.series; the file has: {', '.join(sorted(series)) or 'none'}")
    if rule["after"] not in cols:
        raise InputError(path, f"intervals/trials/{rule['after']}", f"the column named by move_onset.after; the table has {sorted(cols)}")
    fraction, min_peak = float(rule["fraction"]), float(rule.get("min_peak", 0.0) or 0.0)
    if not 0 < fraction < 1:
        raise InputError("--params", "move_onset.fraction", "a fraction in (0, 1)", got=fraction)
    info = series[name]
    times = nwb.timestamps(info)
    after = np.asarray(cols[rule["after"]], np.float64)
    stop = np.asarray(cols["stop_time"], np.float64)
    onset = np.full(len(after), np.nan)
    lo = np.searchsorted(times, after)
    hi = np.searchsorted(times, stop, side="right")
    for i in range(len(after)):
        if not (np.isfinite(after[i]) and hi[i] - lo[i] >= 3):
            continue
        a, b = max(int(lo[i]) - 1, 0), int(hi[i])
        values = nwb.series_data(info, a, b)
        vel = np.gradient(values, times[a:b], axis=0) if name.endswith("_pos") else values
        speed = np.linalg.norm(vel, axis=1)[lo[i] - a :]
        peak = int(np.argmax(speed))
        if not np.isfinite(speed[peak]) or speed[peak] <= min_peak or speed[peak] <= 0:
            continue
        onset[i] = times[lo[i] + int(np.argmax(speed[: peak + 1] >= fraction * speed[peak]))]
    return onset


class CompactCounts:
    """Spike counts (trial, bin, unit) held in the narrowest unsigned type that fits, its maximum coding NaN.

    The store holds float32 counts with NaN (the contract); in memory a uint8 count is a quarter of that, which
    is what keeps the conversion of a 690 MB file within a few hundred MB. The type widens (uint16, uint32) only
    if a bin ever holds 255 spikes or more.
    """

    def __init__(self, shape: tuple[int, int, int]):
        self.codes = np.zeros(shape, np.uint8)

    @property
    def nan_code(self) -> int:
        return int(np.iinfo(self.codes.dtype).max)

    def widen(self, top: int) -> None:
        """Switch to a wider type until ``top`` fits below the NaN code (which moves to the new maximum)."""
        while top >= self.nan_code:
            wider = {np.uint8: np.uint16, np.uint16: np.uint32, np.uint32: np.uint64}[self.codes.dtype.type]
            old_nan = self.codes == self.nan_code
            self.codes = self.codes.astype(wider)
            self.codes[old_nan] = self.nan_code

    def put(self, units: slice, block: np.ndarray) -> None:
        """block: (n_units, trial, bin) float counts with NaN."""
        missing = np.isnan(block)
        if (~missing).any():
            self.widen(int(block[~missing].max()))
        code = np.where(missing, 0, block).astype(self.codes.dtype)
        code[missing] = self.nan_code  # set in the integer type: float32 cannot hold 2**32 - 1
        self.codes[:, :, units] = code.transpose(1, 2, 0)

    def floats(self, rows: slice, bins: slice) -> np.ndarray:
        codes = self.codes[rows, bins]
        out = codes.astype(np.float32)
        out[codes == self.nan_code] = np.nan
        return out

    def filler(self, n_bins: int, n_forward: int):
        """``store.write_session(fill=...)``: write spikes / spikes_forward a chunk of trials at a time."""

        def fill(tmp: Path, chunks: Mapping[str, tuple[int, ...]]) -> None:
            import zarr

            for var, bins in (("spikes", slice(0, n_bins)), ("spikes_forward", slice(n_bins, n_bins + n_forward))):
                if var not in chunks:
                    continue
                target = zarr.open_array(str(tmp / var), mode="r+")
                step = chunks[var][0] * 8  # 8 chunks (~32 MB of float32) per write
                for a in range(0, self.codes.shape[0], step):
                    target[a : a + step] = self.floats(slice(a, a + step), bins)

        return fill


def _check_windows(path: Path, trial_ids: np.ndarray, first: np.ndarray, win: Window, cols: Mapping[str, np.ndarray]) -> None:
    """A window must overlap its own trial and lie after the session start (t = 0)."""
    w0 = first * win.bin_ms / 1000.0
    w1 = w0 + win.n_bins * win.bin_ms / 1000.0
    start, stop = np.asarray(cols["start_time"], float), np.asarray(cols["stop_time"], float)
    bad = np.flatnonzero((w1 <= start) | (w0 >= stop) | (w0 < 0))
    if bad.size:
        i = bad[0]
        raise InputError(
            path, f"trial {trial_ids[i]}",
            f"the window {win.align_event}{win.start_ms:+g}..{win.stop_ms:+g} ms ({w0[i]:.3f}-{w1[i]:.3f} s) to overlap "
            f"the trial ({start[i]:.3f}-{stop[i]:.3f} s) and start at t >= 0 ({bad.size} of {len(first)} trials do not)",
        )


class _OffGrid(Exception):
    pass


def _resample_series(nwb, info, first, n_bins, bin_ms, decimate, ts_cache) -> np.ndarray:
    """One TimeSeries at each window's bin edges; raises _OffGrid when its samples do not fit the bin grid."""
    if info.rate_hz is not None:
        period = 1000.0 / info.rate_hz
        start = info.starting_time_s * 1000.0 / period
        if abs(start - round(start)) > 1e-3:
            raise _OffGrid(f"a starting_time on the {1000.0 / info.rate_hz:g} ms sample grid from t = 0")
        grid = ("regular", int(round(start)))
    else:
        key = nwb.h5[f"{info.path}/timestamps"].id  # series often share (link) one timestamps dataset
        if key not in ts_cache:
            ts_cache[key] = _timestamp_grid(nwb, info)
        period, grid = ts_cache[key]
    q = bin_ms / period if period > 0 else np.nan
    if not np.isfinite(q) or abs(q - round(q)) > 1e-6 or round(q) < 1:
        raise _OffGrid(f"samples every {period:g} ms, a whole fraction of the {bin_ms} ms bin")
    q = int(round(q))
    read = lambda i0, i1: nwb.series_data(info, i0, i1)  # noqa: E731
    if grid[0] == "regular":
        windows = lambda starts, length: nwb.series_windows(info, starts, length)  # noqa: E731
        return binning.resample_windows(None, read, info.n_samples, info.n_channels, first * q, n_bins, q,
                                        decimate=decimate, regular_start=grid[1], read_windows=windows)
    return binning.resample_windows(lambda: grid[1], read, info.n_samples, info.n_channels, first * q, n_bins, q, decimate=decimate)


def _timestamp_grid(nwb, info, chunk: int = 1 << 20) -> tuple[float, tuple]:
    """(period ms, grid) of a series with explicit timestamps, read in chunks.

    grid is ("regular", index of sample 0) when sample i sits at grid index start + i (the usual 1 kHz NLB
    behaviour: nothing is kept in memory), else ("indexed", int64 grid index per sample).
    """
    ds = nwb._dataset(f"{info.path}/timestamps", info.path, "timestamps")
    n = ds.shape[0]
    if n < 2:
        raise _OffGrid("at least 2 timestamps")
    head = np.asarray(ds[: min(n, 10001)], np.float64) * 1000.0
    period = float(np.median(np.diff(head)))
    if not period > 0:
        raise _OffGrid("increasing timestamps")
    start = int(round(head[0] / period))
    regular, parts = True, []
    for a in range(0, n, chunk):
        g = np.asarray(ds[a : a + chunk], np.float64) * 1000.0 / period
        gi = np.round(g).astype(np.int64)
        if np.max(np.abs(g - gi)) > 1e-3:
            raise _OffGrid(f"timestamps on a regular {period:g} ms grid from t = 0 (nlb_tools drops such series)")
        if regular and not np.array_equal(gi, start + a + np.arange(len(gi))):
            regular = False
        parts.append(gi)
        if regular:
            parts = []
    if regular:
        return period, ("regular", start)
    parts = []  # re-read: the regular prefix was not kept
    for a in range(0, n, chunk):
        parts.append(np.round(np.asarray(ds[a : a + chunk], np.float64) * 1000.0 / period).astype(np.int64))
    gi = np.concatenate(parts)
    if np.any(np.diff(gi) <= 0):
        raise _OffGrid("increasing timestamps")
    return period, ("indexed", gi)


def _simulation_notes(text: str, path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(text)["neurodyn_simulation"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise InputError(path, "general/notes", "the JSON simulation record written by neurodyn.simulate.nwb_writer") from None
    return {"simulator": doc.get("generator"), "params": doc.get("params"), "seed": doc.get("seed"),
            "recording_attrs": doc.get("attrs", {}), "description": doc.get("description", "")}


# -- bundled npz recordings ----------------------------------------------------------------------------------
def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify_sha256(path: Path, spec: Mapping[str, Any]) -> None:
    expected = spec["provenance"].get("sha256")
    if not expected:
        raise InputError("--params", "provenance.sha256", "the file's sha256 (config: sessions.<name>.source.mirror.sha256)")
    got = sha256_file(path)
    if got != expected:
        raise InputError(path, "sha256", f"{expected} (config) — the file differs from the pinned copy", got=got)


def _load_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in keys if k not in data.files]
            if missing:
                raise InputError(path, missing[0], f"an npz with keys {list(keys)}; it has {data.files}")
            return {k: data[k] for k in keys}
    except InputError:
        raise
    except Exception as err:  # zipfile / ValueError on a damaged file
        raise InputError(path, "", f"a readable npz file ({type(err).__name__}: {err})") from err


def convert_erdiff_npz(path: Path, spec: Mapping[str, Any]):
    """ERDiff's bundled session (``neural``, ``pos``, ``label``) -> session store.

    ``spikes`` holds ``neural`` exactly as ERDiff's code consumes it (float, multiples of 1/13). These are not
    spike counts: the histogram of ``counts_x13`` has peaks at 13, 26, ... and a flat floor in between, the
    signature of integer counts linearly interpolated onto 14 time points (positions i (L-1)/13), which is what
    the file name "inte14_aligned" says. ERDiff fits them with a Poisson likelihood, which remains a valid
    quasi-likelihood for non-negative reals; storing counts_x13 instead would multiply every rate by 13 and
    silently change what the models fit. ``attrs.spikes_are_counts`` is False so no metric assumes integers.
    ``pos`` becomes behaviour ``erdiff_pos`` (x, y): ERDiff z-scores it and decodes it (calls it velocity);
    its units are undocumented, so the name says only where it comes from. ``label`` (reach direction 0-7)
    becomes the condition ``direction=<label>``. Bins are 20 ms (ERDiff's script), time from 0.
    """
    role = spec["provenance"].get("role")
    if role not in ("source", "target"):
        raise InputError("--params", "provenance.role", "source or target (which ERDiff session this file is)", got=role)
    _verify_sha256(path, spec)
    data = _load_npz(path, ("neural", "counts_x13", "pos", "label"))
    neural, pos, label = data["neural"], data["pos"], data["label"]
    if neural.ndim != 3 or pos.shape[:2] != neural.shape[:2] or label.shape != neural.shape[:1]:
        raise InputError(path, "neural", "neural (trials, bins, neurons), pos (trials, bins, 2), label (trials,)", got=(neural.shape, pos.shape, label.shape))
    if not np.array_equal(np.round(neural * 13), data["counts_x13"]):
        raise InputError(path, "neural", "values equal to counts_x13 / 13 (as PROVENANCE.md states)")
    n_trial, n_bin, n_unit = neural.shape
    bin_ms = float(spec["bin_ms"])
    window = spec.get("window_ms", [0, n_bin * bin_ms])
    if abs((window[1] - window[0]) - n_bin * bin_ms) > 1e-9:
        raise InputError("--params", "window_ms", f"a window of {n_bin} bins of {bin_ms:g} ms (the file has {n_bin} bins)", got=window)
    condition = np.asarray([f"direction={int(v)}" for v in label])
    fractions = spec.get("split", {"train": 0.7, "val": 0.1, "test": 0.2})
    split = assign_split(condition, fractions, int(spec.get("seed", 0)))
    source = {**spec["provenance"], "format": "erdiff_npz", "file": path.name}
    attrs = {
        "spikes_are_counts": False,
        "spikes_note": "ERDiff's `neural` as given: integer counts linearly interpolated onto 14 bins (multiples of 1/13)",
        "behaviour_target": "erdiff_pos",
        "behaviour_note": "`pos` from ERDiff's file; ERDiff z-scores it and decodes it as 'velocity'; units undocumented",
        "split_note": f"drawn per condition from fractions {fractions} with seed {spec.get('seed', 0)}",
        "condition_fields": ["direction"],
        "input_format": "erdiff_npz",
        "nlb": None,
    }
    ds = make_session(
        name=spec["name"], spikes=neural, bin_ms=bin_ms, time_ms=window[0] + bin_ms * np.arange(n_bin),
        align_event=spec.get("align_event", "bin_0"), source=source, unit_ids=np.arange(n_unit),
        split=split, condition=condition, behaviour={"erdiff_pos": (pos, ["x", "y"])}, attrs=attrs,
    )
    return ds


def convert_nlb_1ms_npz(paths: list[Path], spec: Mapping[str, Any]):
    """Excerpts of an NLB session already binned at 1 ms (``nlb-mc-maze-2trials-1ms``) -> session store.

    Each file is one stretch of recording without trial metadata (no move onset, no condition), so it is cut
    into consecutive windows of ``window_ms`` starting at the first bin edge of the stretch (the remainder that
    does not fill a window is dropped); ``align_event`` is ``segment_start``. Spikes are summed over the 1 ms
    bins, behaviour (hand_pos, hand_vel, cursor_pos, eye_pos) FIR-decimated exactly as for NWB files. Held-out
    units are not marked in the files: all units are held-in (``attrs.heldout_note``).
    """
    _verify_multi_sha256(paths, spec)
    win = window_from_spec({**spec, "align_event": spec.get("align_event", "segment_start")})
    keys = ("timestamps_s", "unit_ids", "spikes_1ms", "cursor_pos", "eye_pos", "hand_pos", "hand_vel")
    spikes_all, beh_all, segs, unit_ids = [], {k: [] for k in keys[3:]}, [], None
    for path in paths:
        d = _load_npz(path, keys)
        ms = np.round(d["timestamps_s"] * 1000).astype(np.int64)
        if np.any(np.diff(ms) != 1):
            raise InputError(path, "timestamps_s", "consecutive 1 ms samples")
        if unit_ids is not None and not np.array_equal(unit_ids, d["unit_ids"]):
            raise InputError(path, "unit_ids", "the same units in every file")
        unit_ids = d["unit_ids"]
        first_edge = -(-ms[0] // win.bin_ms) * win.bin_ms
        length = win.n_bins * win.bin_ms
        n_seg = (ms[-1] + 1 - first_edge) // length
        for s in range(int(n_seg)):
            e0 = first_edge + s * length
            i0 = int(e0 - ms[0])
            block = d["spikes_1ms"][i0 : i0 + length].astype(np.float32)
            spikes_all.append(block.reshape(win.n_bins, win.bin_ms, -1).sum(axis=1))
            segs.append((path.stem, e0))
        for k in beh_all:
            beh_all[k].append((ms, d[k], first_edge, int(n_seg)))
    if not segs:
        raise InputError(paths[0], "timestamps_s", f"at least {win.n_bins * win.bin_ms} ms of samples (one window)")
    behaviour = {}
    for k, parts in beh_all.items():
        values = []
        for ms, x, first_edge, n_seg in parts:
            first = (first_edge + np.arange(n_seg) * win.n_bins * win.bin_ms) // win.bin_ms
            values.append(binning.resample_windows(
                None, lambda i0, i1, x=x: x[i0:i1], len(x), x.shape[1], first * win.bin_ms, win.n_bins, win.bin_ms,
                decimate=True, regular_start=int(ms[0])))
        behaviour[k] = (np.concatenate(values), ["x", "y"])
    condition = np.full(len(segs), "unknown")
    if "split" in spec:
        split = assign_split(condition, spec["split"], int(spec.get("seed", 0)))
    else:
        split = np.full(len(segs), "train")
    attrs = {
        "input_format": "nlb_1ms_npz", "nlb": spec.get("nlb"), "condition_fields": [],
        "segments": [f"{stem}@{e0}ms" for stem, e0 in segs],
        "heldout_note": "the excerpt does not say which units are held out: all marked held-in",
        "behaviour_resampling": "nlb_tools: 501-tap Hamming FIR (scipy.signal.decimate n=500) sampled at each bin's left edge",
    }
    first_s = np.asarray([e0 / 1000.0 for _, e0 in segs])
    ds = make_session(
        name=spec["name"], spikes=np.stack(spikes_all), bin_ms=win.bin_ms,
        time_ms=win.bin_ms * np.arange(win.n_bins), align_event="segment_start",
        source={**spec["provenance"], "format": "nlb_1ms_npz", "files": [p.name for p in paths]},
        unit_ids=unit_ids, split=split, condition=condition, behaviour=behaviour, attrs=attrs,
    )
    return ds.assign_coords(window_start_s=("trial", first_s))


def _verify_multi_sha256(paths: list[Path], spec: Mapping[str, Any]) -> None:
    digests = spec["provenance"].get("sha256")
    digests = [digests] if isinstance(digests, str) else list(digests or [])
    if len(digests) != len(paths):
        raise InputError("--params", "provenance.sha256", f"one sha256 per input file ({len(paths)})", got=digests)
    for path, expected in zip(paths, digests):
        _verify_sha256(path, {"provenance": {"sha256": expected}})


# -- entry point ---------------------------------------------------------------------------------------------
def convert(inputs: list[str | Path], spec: Mapping[str, Any] | str, out: str | Path) -> Path:
    """Convert ``inputs`` per ``spec`` and write the session store ``out`` atomically.

    The inputs' sha256 is computed while they are converted (a second reader, same bytes) and checked against
    the pin (config or lock file) before the store appears: a raw file changed after its download is an error,
    not a store with false provenance. ``attrs.source`` records the digests read; ``attrs.fingerprint`` (digests +
    convert spec + converter version) is what training runs key their resume state on.
    """
    spec = parse_spec(spec)
    paths = [Path(p) for p in inputs]
    for p in paths:
        if not p.is_file():
            raise InputError(p, "", f"an input file ({spec['format']}; no such file)")
    check_replaceable(out, paths, what="session store")  # before any work: a user's folder is never replaced
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        digests = pool.submit(_digests, paths, stop)
        try:
            fill = None
            if spec["format"] == "nwb":
                if len(paths) != 1:
                    raise InputError("--inputs", "source", "exactly one NWB file", got=[str(p) for p in paths])
                ds, fill = convert_nwb(paths[0], spec)
            elif spec["format"] == "erdiff_npz":
                if len(paths) != 1:
                    raise InputError("--inputs", "source", "exactly one npz file", got=[str(p) for p in paths])
                ds = convert_erdiff_npz(paths[0], spec)
            else:
                ds = convert_nlb_1ms_npz(paths, spec)
        except BaseException:
            stop.set()
            raise
        read = digests.result()
    _check_pins(paths, spec, read)
    source = dict(ds.attrs["source"])
    source["read"] = [{"file": p.name, "size": size, "sha256": digest} for p, (size, digest) in zip(paths, read)]
    ds.attrs["source"] = source
    ds.attrs["convert_spec"] = json.loads(json.dumps(spec))
    key = {"read": [d for _, d in read], "spec": spec, "converter_version": ds.attrs["converter_version"]}
    ds.attrs["fingerprint"] = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return write_session(ds, out, fill=fill, inputs=paths)


def _digests(paths: list[Path], stop: threading.Event) -> list[tuple[int, str]]:
    out = []
    for path in paths:
        digest, size = hashlib.sha256(), 0
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(4 << 20), b""):
                if stop.is_set():
                    return []
                digest.update(block)
                size += len(block)
        out.append((size, digest.hexdigest()))
    return out


def _check_pins(paths: list[Path], spec: Mapping[str, Any], read: list[tuple[int, str]]) -> None:
    """A DANDI asset pinned in config.yaml or the lock file must be byte for byte the pinned one."""
    if spec["kind"] not in ("dandi", "locked"):
        return  # mirror files were verified against their pins before conversion; simulations have none
    pin = spec["provenance"]
    (size, digest), path = read[0], paths[0]
    if pin.get("size") is not None and size != pin["size"]:
        raise InputError(path, "size", f"{pin['size']} bytes, as pinned (config datasets / lock file): the file changed "
                                       "after download; delete it to download it again", got=size)
    if pin.get("sha256") and digest != pin["sha256"]:
        raise InputError(path, "sha256", f"{pin['sha256']}, as pinned (config datasets / lock file): the file changed "
                                         "after download; delete it to download it again", got=digest)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn convert", description=__doc__.splitlines()[0])
    # inputs: source = the NWB file (or the npz files of a bundled recording)
    add_job_arguments(parser, inputs={"source": "+"}, params="conversion spec as JSON (SessionSources.convert_spec)",
                      out_help="session store to write (.zarr directory)")
    args = parse_job_args(parser, argv)
    t0 = time.perf_counter()
    out = convert(args.inputs["source"], args.params, args.out)
    print(f"neurodyn convert: wrote {out} in {time.perf_counter() - t0:.2f} s", file=sys.stderr)
    return 0
