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
HISTOGRAM_MAX_BINS = 1 << 22  # one bincount over the windows' span up to 4 M bins (32 MB of int64), else searchsorted


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


def window_offsets(first: np.ndarray, n_bins: int) -> np.ndarray:
    """(T, n_bins) bin index of every window bin relative to the earliest window (shared by all units)."""
    return (first - first.min())[:, None] + np.arange(n_bins)[None, :]


def count_spikes(
    spike_times_s: np.ndarray, first: np.ndarray, n_bins: int, bin_ms: int, lo: np.ndarray, hi: np.ndarray,
    offsets: np.ndarray | None = None, stats: dict[str, int] | None = None,
) -> np.ndarray:
    """Counts of one unit in every window at once.

    spike_times_s: (S,) seconds; first: (T,) first bin index per window; n_bins: bins per window; lo, hi: the
    unit's observed 1 ms bins (spikes in unobserved milliseconds are dropped, as nlb_tools' NaN-then-sum does).
    offsets: ``window_offsets(first, n_bins)``, computed once for all units. stats: when given, its
    ``outside_obs_intervals`` count grows by the spikes dropped because their millisecond is unobserved.
    Returns (T, n_bins) int64. One bincount over the span of all windows, then a gather (windows may overlap);
    for a span too long to hold as a histogram, a searchsorted of the sorted bins against all window edges.
    """
    ms = spike_ms_index(spike_times_s)
    keep = observed(ms, lo, hi)
    if stats is not None:
        stats["outside_obs_intervals"] = stats.get("outside_obs_intervals", 0) + int(keep.size - np.count_nonzero(keep))
    ms = ms[keep]
    bins = ms // int(bin_ms)
    g0, g1 = int(first.min()), int(first.max()) + n_bins
    if g1 - g0 <= HISTOGRAM_MAX_BINS:
        offsets = window_offsets(first, n_bins) if offsets is None else offsets
        bins = bins[(bins >= g0) & (bins < g1)] - g0
        return np.bincount(bins, minlength=g1 - g0)[offsets]
    bins = np.sort(bins)
    edges = first[:, None] + np.arange(n_bins + 1)[None, :]
    return np.diff(np.searchsorted(bins, edges.ravel(), side="left").reshape(edges.shape), axis=1)


def bins_observed(first: np.ndarray, n_bins: int, bin_ms: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(T, n_bins) bool: whether each bin's first millisecond is observed (else the bin is NaN, as in nlb_tools)."""
    return observed((first[:, None] + np.arange(n_bins)[None, :]) * int(bin_ms), lo, hi)


def fir_coefficients(q: int) -> np.ndarray:
    """``scipy.signal.firwin(501, 1/q, window='hamming')`` (windowed-sinc low-pass, unit DC gain), computed here
    so that a conversion does not pay the 3 s import of scipy.signal; tests check it against scipy."""
    m = np.arange(FIR_TAPS + 1) - FIR_TAPS / 2
    cutoff = 1.0 / q
    h = cutoff * np.sinc(cutoff * m)
    h *= 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(FIR_TAPS + 1) / FIR_TAPS)
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
    block_bytes: int = 16 << 20,
    regular_start: int | None = None,
    read_windows: Callable[[np.ndarray, int], np.ndarray] | None = None,
) -> np.ndarray:
    """A continuous signal at each window's bin left edges.

    The signal's samples sit on a regular grid of period p (ms); bins are q samples wide. Either the series is
    regular (``regular_start`` = grid index of sample 0) or ``grid_index()`` returns each sample's grid index
    (sorted). ``read(i0, i1)`` returns samples [i0, i1) as (i1 - i0, n_channels). first_grid: (T,) grid index of
    each window's first edge. Returns (T, n_bins, n_channels) float32 (NaN where the edge sample is missing).

    Windows are processed in groups whose samples are read in one block of at most ``block_bytes``; within a
    group the FIR (y[n] = (h * x)[n q + 500] for the symmetric 501-tap h, over each window's samples +-250) runs as
    one matrix product with a banded (L, n_bins) matrix of shifted copies of h: only the outputs at bin edges are
    computed, by BLAS.
    With ``read_windows(starts, L) -> (W, L, n_channels)`` (one read of just those samples: an HDF5 hyperslab
    union) a regular series' group of complete, non-overlapping windows reads only its windows' samples, not
    the gaps between them (trials' behaviour windows cover a fraction of a 1 kHz recording).
    """
    n_trials = len(first_grid)
    out = np.full((n_trials, n_bins, n_channels), np.nan, np.float32)
    if n_trials == 0 or n_samples == 0:
        return out
    half = FIR_TAPS // 2 if (decimate and q > 1) else 0
    length = (n_bins - 1) * q + 2 * half + 1
    lo_grid = first_grid - half
    hi_grid = lo_grid + length  # exclusive
    if regular_start is not None:
        g = None
        i0 = np.clip(lo_grid - regular_start, 0, n_samples)
        i1 = np.clip(hi_grid - regular_start, 0, n_samples)
    else:
        g = grid_index()
        i0 = np.searchsorted(g, lo_grid, side="left")
        i1 = np.searchsorted(g, hi_grid, side="left")
    if half:
        # y[b] = (h * x)[b q + 500] = sum_j h[j] x[b q + j] (h symmetric): one (L, n_bins) banded matrix, so a group's
        # FIR is a single BLAS product instead of two FFTs per window and channel that compute q times the outputs
        fir = np.zeros((length, n_bins))
        rows = q * np.arange(n_bins)[None, :] + np.arange(FIR_TAPS + 1)[:, None]  # (501, n_bins)
        fir[rows, np.broadcast_to(np.arange(n_bins), rows.shape)] = fir_coefficients(q)[:, None]
    edges = half + q * np.arange(n_bins)
    per_trial = length * n_channels * 8
    max_samples = max(1, block_bytes // (8 * max(n_channels, 1)))
    max_members = max(1, block_bytes // per_trial)
    order = np.argsort(i0, kind="stable")
    k = 0
    while k < n_trials:
        b0, b1 = int(i0[order[k]]), int(i1[order[k]])
        members = [order[k]]
        k += 1
        while k < n_trials and len(members) < max_members and max(b1, i1[order[k]]) - b0 <= max_samples:
            b1 = max(b1, int(i1[order[k]]))
            members.append(order[k])
            k += 1
        members = np.asarray(members)
        starts = i0[members]
        # a window of full length was not clipped at either end of the series, so it lies whole inside it
        direct = read_windows is not None and g is None and np.all(i1[members] - starts == length) and np.all(np.diff(starts) >= length)
        if direct:  # the windows' samples, and nothing between them
            local = np.asarray(read_windows(starts, length), np.float64)
        else:
            block = read(b0, b1) if b1 > b0 else np.zeros((0, n_channels))
            local = np.full((len(members), length, n_channels), np.nan)
            if g is None:
                sample = lo_grid[members, None] + np.arange(length)[None, :] - regular_start  # (M, L) sample index
                ok = (sample >= b0) & (sample < b1)
                local[ok] = block[sample[ok] - b0]
            else:
                for j, t in enumerate(members):
                    local[j, g[i0[t] : i1[t]] - lo_grid[t]] = block[i0[t] - b0 : i1[t] - b0]
        missing = np.isnan(local[:, edges])
        if half:
            nan_rows = np.flatnonzero(np.isnan(local).any(axis=(1, 2)))
            for j in nan_rows:
                local[j] = _fill_nans(local[j])
            values = np.tensordot(local, fir, axes=([1], [0])).transpose(0, 2, 1)  # (M, L, C) . (L, n_bins) -> (M, n_bins, C)
        else:
            values = local[:, edges]
        values[missing] = np.nan
        out[members] = values
    return out


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
