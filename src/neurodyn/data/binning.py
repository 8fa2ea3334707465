"""Binning primitives shared by every input format: trial windows, spike counts, resampled continuous signals.

All of it reproduces nlb_tools 0.0.4 (``NWBDataset.load`` + ``resample`` + ``make_trial_data``) exactly, without
ever building nlb_tools' dense 1 ms matrix of the whole session:

- **Spikes.** nlb_tools bins a spike at ``t`` seconds into the 1 ms bin ``int(round((t - t0) * 1000, 6))``
  (truncation, ``t0`` = 0, the session start), and ``resample(k)`` sums 1 ms bins ``[k j, k j + k)``. So a spike's
  k-ms bin is ``ms_index // k`` — computed here per unit, then counted over every trial window at once with one
  ``np.searchsorted`` of the sorted bin indices against all window edges (cost O(windows x log spikes) per unit).
- **Observed intervals.** nlb_tools marks the 1 ms bin ``i`` observed when ``ceil(round(start*1000, 6)) <= i <
  floor(round(stop*1000, 6))`` for some interval; unobserved 1 ms bins become NaN, ``resample`` sums the others
  (NaN counted as 0) and makes a k-ms bin NaN when its *first* 1 ms bin is NaN. Reproduced per unit (nlb_tools
  uses the first unit's intervals for all; the NLB files give every unit the same intervals, so this agrees):
  spikes in unobserved 1 ms bins are dropped, bins whose first millisecond is unobserved are NaN.
- **Windows.** ``make_trial_data(align_field, align_range)`` keeps the k-ms bins whose left edge lies in
  ``[align + start, align + stop - 1 us]``: the first edge is the smallest multiple of k ms at or after
  ``align + start``, and there are ``(stop - start) / k`` bins. Event times are rounded to whole microseconds
  first: this removes float noise (e.g. MC_RTT's segment boundaries) and never changes a window nlb_tools can
  build (an event within 1 us after a bin edge makes nlb_tools cut a bin short and fail to stack the trial).
- **Continuous signals** (behaviour): nlb_tools decimates with ``scipy.signal.decimate(x, k, n=500,
  ftype='fir')`` — a zero-phase 501-tap Hamming FIR, then the sample at each bin's left edge. The filter is local
  (+-250 samples), so it is applied here to each window's samples plus a 250-sample margin only; the result equals
  nlb_tools' except within 250 ms of the ends of the recorded series (nlb_tools zero-pads there; we extend the
  edge value) and across gaps longer than the margin (nlb_tools interpolates linearly across the whole gap).
  Bins whose left-edge sample is missing are NaN, as in nlb_tools. With k = 1 the samples are taken as they are.
  Ground-truth latents and observations of simulations are never filtered: the sample at each bin's left edge.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

FIR_TAPS = 500  # nlb_tools' decimate(..., n=500): 501 coefficients, +-250 samples of support


def seconds_to_us(t: np.ndarray) -> np.ndarray:
    """Event times (s, float, NaN allowed) -> whole microseconds as int64 (NaN -> int64 min)."""
    t = np.asarray(t, dtype=np.float64)
    out = np.full(t.shape, np.iinfo(np.int64).min, dtype=np.int64)
    ok = np.isfinite(t)
    out[ok] = np.round(t[ok] * 1e6).astype(np.int64)
    return out


def first_bin(align_us: np.ndarray, offset_ms: float, bin_ms: int) -> np.ndarray:
    """Index (in k-ms bins from t0 = 0) of each window's first bin: the first edge >= align + offset."""
    bin_us = int(bin_ms) * 1000
    start = np.asarray(align_us, np.int64) + int(round(offset_ms * 1000))
    return -((-start) // bin_us)  # ceil division on integers


def spike_ms_index(t: np.ndarray) -> np.ndarray:
    """nlb_tools' 1 ms bin of each spike: int(round(t * 1000, 6)) (t0 = 0, truncation toward zero)."""
    return np.round(np.asarray(t, np.float64) * 1000.0, 6).astype(np.int64)


def interval_ms_bounds(intervals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 2) seconds -> observed 1 ms bins [lo, hi) as nlb_tools' make_mask computes them."""
    intervals = np.asarray(intervals, np.float64).reshape(-1, 2)
    lo = np.ceil(np.round(intervals[:, 0] * 1000.0, 6)).astype(np.int64)
    hi = np.floor(np.round(intervals[:, 1] * 1000.0, 6)).astype(np.int64)
    return lo, hi


def observed(ms_index: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Whether each 1 ms bin lies in some interval [lo, hi) (intervals may overlap or be unsorted)."""
    if lo.size == 0:
        return np.zeros(np.shape(ms_index), bool)
    order = np.argsort(lo, kind="stable")
    lo_s, hi_max = lo[order], np.maximum.accumulate(hi[order])
    j = np.searchsorted(lo_s, ms_index, side="right") - 1
    return (j >= 0) & (ms_index < hi_max[np.maximum(j, 0)])


def count_spikes(
    spike_times_s: np.ndarray, first: np.ndarray, n_bins: int, bin_ms: int, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Counts of one unit in every window at once.

    spike_times_s: (S,) seconds; first: (T,) first bin index per window; n_bins: bins per window;
    lo, hi: the unit's observed 1 ms bins. Returns counts (T, n_bins) int64 and observed-bin mask (T, n_bins).
    """
    ms = spike_ms_index(spike_times_s)
    ms = ms[observed(ms, lo, hi)]
    bins = np.sort(ms // int(bin_ms))
    edges = first[:, None] + np.arange(n_bins + 1)[None, :]  # (T, n_bins + 1) in k-ms bins
    counts = np.diff(np.searchsorted(bins, edges.ravel(), side="left").reshape(edges.shape), axis=1)
    mask = observed(edges[:, :-1] * int(bin_ms), lo, hi)
    return counts, mask


def window_entries(ms: np.ndarray, first: np.ndarray, n_bins: int, bin_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (spike, window, bin) incidence, for many spikes and windows at once.

    ms: (S,) 1 ms bin of each (observed) spike; first: (T,) first bin index (k-ms bins) of each window; windows
    have ``n_bins`` bins and may overlap (a spike then counts in each window that holds it). Returns
    ``spike`` (E,) index into ``ms`` and ``flat`` (E,) = window * n_bins + bin in window. Cost O(S log T):
    the windows holding k-ms bin b are those with b - n_bins < first <= b, a contiguous run of the sorted firsts.
    """
    b = np.asarray(ms, np.int64) // int(bin_ms)
    order = np.argsort(first, kind="stable")
    fs = np.asarray(first, np.int64)[order]
    lo = np.searchsorted(fs, b - n_bins + 1, side="left")
    n = np.searchsorted(fs, b, side="right") - lo
    n = np.maximum(n, 0)
    spike = np.repeat(np.arange(len(b)), n)
    if spike.size == 0:
        return spike, np.zeros(0, np.int64)
    k = np.arange(spike.size) - np.repeat(np.cumsum(n) - n, n)  # rank of the window within the spike's run
    window = order[lo[spike] + k]
    return spike, window * n_bins + (b[spike] - first[window])


def fir_coefficients(q: int) -> np.ndarray:
    """scipy.signal.firwin(501, 1/q, window="hamming") (what decimate uses), without importing scipy.signal.

    Windowed-sinc low-pass with cutoff 1/q (Nyquist = 1) and a symmetric Hamming window, scaled to unit gain at
    DC — firwin's algorithm for a low-pass (``pass_zero=True, scale=True``); importing scipy.signal costs more
    than a whole conversion. Checked against scipy in tests/unit/test_convert_binning.py.
    """
    n = FIR_TAPS + 1
    m = np.arange(n) - (n - 1) / 2.0
    h = (1.0 / q) * np.sinc((1.0 / q) * m) * np.hamming(n)
    return h / h.sum()


def resample_windows(
    grid_index: Callable[[], np.ndarray] | None,
    read: Callable[[int, int], np.ndarray],
    n_samples: int,
    n_channels: int,
    first_grid: np.ndarray,
    n_bins: int,
    q: int,
    *,
    decimate: bool,
    block_bytes: int = 64 << 20,
    regular_start: int | None = None,
    read_windows: Callable[[np.ndarray, int], np.ndarray] | None = None,
) -> np.ndarray:
    """A continuous signal at each window's bin left edges.

    The signal's samples sit on a regular grid of period p (ms); bins are q samples wide. Either the series is
    regular (``regular_start`` = grid index of sample 0) or ``grid_index()`` returns each sample's grid index
    (sorted). ``read(i0, i1)`` returns samples [i0, i1) as (i1 - i0, n_channels). first_grid: (T,) grid index of
    each window's first edge. Returns (T, n_bins, n_channels) float32 (NaN where the edge sample is missing).
    Samples are read in blocks of at most ``block_bytes`` covering consecutive windows. With
    ``read_windows(starts, L)`` -> (W, L, C) (one read of just those samples, e.g. an HDF5 hyperslab union),
    complete non-overlapping windows are read and filtered without reading the samples between them.
    """
    n_trials = len(first_grid)
    out = np.full((n_trials, n_bins, n_channels), np.nan, np.float32)
    if n_trials == 0 or n_samples == 0:
        return out
    half = FIR_TAPS // 2 if (decimate and q > 1) else 0
    h = fir_coefficients(q) if half else None
    lo_grid = first_grid - half
    hi_grid = first_grid + (n_bins - 1) * q + half + 1  # exclusive
    if regular_start is not None:
        g = None
        i0 = np.clip(lo_grid - regular_start, 0, n_samples)
        i1 = np.clip(hi_grid - regular_start, 0, n_samples)
    else:
        g = grid_index()
        i0 = np.searchsorted(g, lo_grid, side="left")
        i1 = np.searchsorted(g, hi_grid, side="left")
    max_samples = max(1, block_bytes // (8 * max(n_channels, 1)))
    edges = half + q * np.arange(n_bins)
    # The filter as a (n_bins, L) matrix over a window's L samples: all complete windows of a block are then
    # filtered by one matrix product (the per-window loop below is kept for windows with gaps or NaNs).
    length = (n_bins - 1) * q + 2 * half + 1
    fir = np.zeros((n_bins, length)) if half else None
    for i, e in enumerate(edges if half else []):
        fir[i, e - half : e + half + 1] = h
    fir_t = None if fir is None else np.ascontiguousarray(fir.T)
    todo = np.arange(n_trials)
    if read_windows is not None and half:
        todo = _filter_read_windows(read_windows, out, i0, i1, length, fir_t, n_channels)
    order = todo[np.argsort(i0[todo], kind="stable")]
    n_trials = len(order)
    k = 0
    while k < n_trials:
        b0, b1 = i0[order[k]], i1[order[k]]
        members = [order[k]]
        k += 1
        while k < n_trials and max(b1, i1[order[k]]) - b0 <= max_samples:
            b1 = max(b1, i1[order[k]])
            members.append(order[k])
            k += 1
        block = read(int(b0), int(b1)) if b1 > b0 else np.zeros((0, n_channels))
        members = np.asarray(members)
        complete = (i1[members] - i0[members]) == length  # every sample of the window is present (no gap, no edge)
        if complete.any():
            done = members[complete]
            clean = np.ones(len(done), bool)
            if np.isnan(block).any():  # a window is clean when none of its samples is NaN
                nan_rows = np.concatenate([[0], np.cumsum(np.isnan(block).any(axis=1))])
                clean = nan_rows[i1[done] - b0] == nan_rows[i0[done] - b0]
            if clean.any() and not half:
                sel = done[clean]
                out[sel] = block[(i0[sel] - b0)[:, None] + edges[None, :]]
            elif clean.any():
                # one channel at a time, the gathered windows are the rows of one matrix product:
                # (W, L) @ (L, n_bins) -> (W, n_bins)
                sel = done[clean]
                idx = (i0[sel] - b0)[:, None] + np.arange(length)[None, :]
                for c in range(n_channels):
                    out[sel, :, c] = np.take(block[:, c], idx) @ fir_t
            members = np.concatenate([members[~complete], done[~clean]])
        for t in members:
            local = np.full((length, n_channels), np.nan)
            if i1[t] > i0[t]:
                if g is None:
                    pos = np.arange(i0[t], i1[t]) + regular_start - lo_grid[t]
                else:
                    pos = g[i0[t] : i1[t]] - lo_grid[t]
                local[pos] = block[i0[t] - b0 : i1[t] - b0]
            missing = np.isnan(local[edges])
            if half:
                local = _fill_nans(local)
                windows = np.lib.stride_tricks.sliding_window_view(local, FIR_TAPS + 1, axis=0)  # (L-500, C, 501)
                values = windows[edges - half] @ h
            else:
                values = local[edges]
            values[missing] = np.nan
            out[t] = values
    return out


def _filter_read_windows(read_windows, out, i0, i1, length, fir_t, n_channels, batch: int = 512) -> np.ndarray:
    """Filter the complete, NaN-free, non-overlapping windows from direct reads; returns the windows left to do."""
    complete = np.flatnonzero((i1 - i0) == length)
    complete = complete[np.argsort(i0[complete], kind="stable")]
    if complete.size == 0 or np.any(np.diff(i0[complete]) < length):
        return np.arange(len(i0))  # overlapping windows: the block path reads each sample once instead
    left = [np.setdiff1d(np.arange(len(i0)), complete)]
    for a in range(0, complete.size, batch):
        sel = complete[a : a + batch]
        windows = read_windows(i0[sel], length)  # (W, L, C)
        clean = ~np.isnan(windows).any(axis=(1, 2))
        left.append(sel[~clean])
        for c in range(n_channels):
            out[sel[clean], :, c] = windows[clean, :, c] @ fir_t
    return np.sort(np.concatenate(left))


def _fill_nans(x: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaNs per channel, edge values extended (pandas limit_direction='both')."""
    if not np.isnan(x).any():
        return x
    x = x.copy()
    idx = np.arange(len(x))
    for c in range(x.shape[1]):
        ok = ~np.isnan(x[:, c])
        if ok.any() and not ok.all():
            x[~ok, c] = np.interp(idx[~ok], idx[ok], x[ok, c])
    return x
