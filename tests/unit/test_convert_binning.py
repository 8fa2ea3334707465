"""Binning primitives on hand-built inputs with known answers (nlb_tools' semantics, neurodyn.data.binning)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import decimate

from neurodyn.data import binning
from neurodyn.data.convert import assign_split, condition_labels


def test_spike_ms_index_truncates_after_rounding_to_6_decimals():
    # 0.0049999999999 s rounds to 5.000000 ms -> bin 5 (plain truncation would give 4); 0.0049 -> 4
    t = np.array([0.0049999999999, 0.0049, 0.005, 0.0050004])
    assert binning.spike_ms_index(t).tolist() == [5, 4, 5, 5]


def test_first_bin_is_first_grid_edge_at_or_after_window_start():
    align_us = binning.seconds_to_us(np.array([1.000, 1.0023, 1.0049999999999, np.nan]))
    first = binning.first_bin(align_us[:3], -250, 5)
    # 0.750 s -> bin 150; 0.7523 s -> next edge 0.755 s = bin 151; float noise below 1.005 rounds to 1.005 -> 0.755
    assert first.tolist() == [150, 151, 151]
    assert align_us[3] == np.iinfo(np.int64).min


def test_count_spikes_counts_each_window_and_masks_unobserved_first_ms():
    spikes = np.array([0.0001, 0.0049, 0.0050, 0.0121, 0.0199, 0.0305])
    lo, hi = binning.interval_ms_bounds(np.array([[0.0, 0.0124]]))  # observed 1 ms bins 0..11
    counts = binning.count_spikes(spikes, np.array([0, 1]), 3, 5, lo, hi)
    mask = binning.bins_observed(np.array([0, 1]), 3, 5, lo, hi)
    # windows: bins [0,1,2] and [1,2,3] of 5 ms; the spike at 12.1 ms is in ms 12, unobserved -> dropped
    assert counts.tolist() == [[2, 1, 0], [1, 0, 0]]
    # bin 2 starts at ms 10 (observed) -> counted; bin 3 starts at ms 15 (unobserved) -> NaN
    assert mask.tolist() == [[True, True, True], [True, True, False]]


def test_observed_handles_unsorted_overlapping_intervals():
    lo, hi = np.array([10, 0, 5]), np.array([12, 3, 11])
    got = binning.observed(np.arange(14), lo, hi)
    assert np.flatnonzero(got).tolist() == [0, 1, 2, 5, 6, 7, 8, 9, 10, 11]


def test_fir_resampling_equals_scipy_decimate_away_from_edges():
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(size=(4000, 2)), axis=0)
    q = 5
    reference = decimate(x, q, n=binning.FIR_TAPS, ftype="fir", axis=0)  # sample j*q
    first_grid = np.array([600, 1500, 2400])  # edges well inside: filter support +-250 samples
    out = binning.resample_windows(None, lambda a, b: x[a:b], len(x), 2, first_grid, 40, q, decimate=True, regular_start=0)
    for t, g in enumerate(first_grid):
        np.testing.assert_allclose(out[t], reference[g // q : g // q + 40], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("decimate_", [True, False])
def test_window_reads_equal_block_reads(decimate_):
    """read_windows (only the windows' samples, as an HDF5 hyperslab union reads them) gives exactly the block
    path's values: for windows well inside, at both ends of the series (clipped: the block path), overlapping
    (block path), with NaN samples inside a window, and it is called only for the groups it can serve."""
    rng = np.random.default_rng(1)
    x = np.cumsum(rng.normal(size=(20000, 3)), axis=0)
    x[9000:9004, 1] = np.nan
    first = np.array([100, 2000, 4000, 4100, 8900, 12000, 16000, 19800])  # 4000/4100 overlap; 100 and 19800 clipped
    calls = []

    def windows(starts, length):
        calls.append(len(starts))
        return np.stack([x[s : s + length] for s in starts])

    for block_bytes in (1 << 12, 16 << 20):  # small blocks: many groups, some served directly
        args = (None, lambda a, b: x[a:b], len(x), 3, first, 40, 5)
        kw = dict(decimate=decimate_, regular_start=0, block_bytes=block_bytes)
        np.testing.assert_array_equal(binning.resample_windows(*args, **kw, read_windows=windows), binning.resample_windows(*args, **kw))
    assert calls and sum(calls) < 2 * len(first)


def test_nwb_series_windows_reads_exactly_the_hyperslabs(tmp_path):
    import h5py

    from neurodyn.data.nwb import NWBReader, SeriesInfo

    data = np.arange(3000, dtype=np.float32).reshape(1000, 3)
    with h5py.File(tmp_path / "f.nwb", "w") as f:
        f["acquisition/observations/data"] = data  # an observations-only file: no units table needed
    with NWBReader(tmp_path / "f.nwb") as nwb:
        info = SeriesInfo(name="observations", path="acquisition/observations", n_samples=1000, n_channels=3, columns=["x", "y", "z"],
                          rate_hz=1000.0, starting_time_s=0.0, unit="a.u.")
        got = nwb.series_windows(info, np.array([0, 100, 990]), 10)
    assert got.shape == (3, 10, 3) and got.dtype == np.float64
    np.testing.assert_array_equal(got, np.stack([data[s : s + 10] for s in (0, 100, 990)]))


def test_fir_coefficients_equal_scipy_firwin():
    from scipy.signal import firwin

    for q in (2, 5, 20):
        np.testing.assert_allclose(binning.fir_coefficients(q), firwin(binning.FIR_TAPS + 1, 1.0 / q, window="hamming"), atol=1e-15)


def test_fir_resampling_fills_gaps_by_interpolation_and_marks_missing_edges():
    x = np.sin(np.arange(3000) / 50.0)[:, None]
    grid = np.delete(np.arange(3000), np.arange(1500, 1503))  # 3 samples missing at 1500..1502
    kept = x[grid]
    out = binning.resample_windows(lambda: grid, lambda a, b: kept[a:b], len(grid), 1, np.array([1000]), 200, 5, decimate=True)
    ref = decimate(x, 5, n=binning.FIR_TAPS, ftype="fir", axis=0)[200:400]
    assert np.isnan(out[0, 100, 0])  # the edge at 1500 had no sample
    ok = np.arange(200) != 100
    np.testing.assert_allclose(out[0, ok], ref[ok], atol=2e-4)


def test_resampling_without_decimation_takes_edge_samples_and_marks_missing():
    x = np.arange(100, dtype=float)[:, None]
    grid = np.concatenate([np.arange(0, 50), np.arange(60, 100)])  # samples missing at grid 50..59
    out = binning.resample_windows(lambda: grid, lambda a, b: x[a:b], 90, 1, np.array([40]), 4, 5, decimate=False)
    # edges at grid 40, 45, 50 (missing), 55 (missing)
    assert out[0, :2, 0].tolist() == [40, 45] and np.isnan(out[0, 2:, 0]).all()


def test_condition_labels_join_columns_and_format_integral_floats():
    cols = {"trial_type": np.array([3.0, 4.0]), "trial_version": np.array([1, 0])}
    labels, used = condition_labels(cols, ["trial_type", "trial_version"], 2, "f")
    assert labels.tolist() == ["trial_type=3|trial_version=1", "trial_type=4|trial_version=0"] and used == ["trial_type", "trial_version"]
    labels, used = condition_labels({}, ["trial_type"], 2, "f")
    assert labels.tolist() == ["unknown", "unknown"] and used == []


def test_assign_split_is_stratified_deterministic_and_seeded():
    cond = np.repeat([f"d={i}" for i in range(8)], 21)
    a = assign_split(cond, {"train": 0.7, "val": 0.1, "test": 0.2}, seed=3)
    assert np.array_equal(a, assign_split(cond, {"train": 0.7, "val": 0.1, "test": 0.2}, seed=3))
    assert not np.array_equal(a, assign_split(cond, {"train": 0.7, "val": 0.1, "test": 0.2}, seed=4))
    for c in np.unique(cond):
        parts = a[cond == c]
        assert (parts == "train").sum() == 15 and (parts == "val").sum() == 2 and (parts == "test").sum() == 4


@pytest.mark.parametrize("bin_ms", [1, 5, 20])
def test_counts_equal_dense_reference(bin_ms, monkeypatch):
    """Per-unit searchsorted binning == a brute-force dense 1 ms histogram summed over bins."""
    rng = np.random.default_rng(bin_ms)
    spikes = np.sort(rng.uniform(0, 10, 3000))
    intervals = np.array([[0.0, 3.0], [3.5, 9.0]])
    lo, hi = binning.interval_ms_bounds(intervals)
    first = binning.first_bin(binning.seconds_to_us(np.array([1.0, 3.2, 8.0])), -100, bin_ms)
    n_bins = 400 // bin_ms
    counts = binning.count_spikes(spikes, first, n_bins, bin_ms, lo, hi)
    mask = binning.bins_observed(first, n_bins, bin_ms, lo, hi)
    monkeypatch.setattr(binning, "HISTOGRAM_MAX_BINS", 0)  # the searchsorted path for very long spans
    assert np.array_equal(binning.count_spikes(spikes, first, n_bins, bin_ms, lo, hi), counts)
    dense = np.zeros(10000)
    np.add.at(dense, binning.spike_ms_index(spikes), 1)
    obs = binning.observed(np.arange(10000), lo, hi)
    dense[~obs] = 0
    for t, f in enumerate(first):
        ref = dense[f * bin_ms : (f + n_bins) * bin_ms].reshape(n_bins, bin_ms).sum(1)
        assert counts[t].tolist() == ref.tolist()
        assert mask[t].tolist() == obs[f * bin_ms : (f + n_bins) * bin_ms : bin_ms].tolist()


def test_continuous_segments_with_float_noise_tile_the_recording():
    """MC_RTT-style: 600 ms segments whose start times carry float noise (accumulated sums) still map to
    consecutive, non-overlapping 5 ms windows (event times are rounded to whole microseconds first)."""
    starts = np.cumsum(np.full(200, 0.6)) - 0.6  # 0, 0.6, 1.2, 1.7999999999999998, ...
    assert not np.allclose(starts * 1000 % 1, 0, atol=0)  # the noise is really there
    first = binning.first_bin(binning.seconds_to_us(starts), 0, 5)
    assert first.tolist() == (np.arange(200) * 120).tolist()
    first20 = binning.first_bin(binning.seconds_to_us(starts + 1e-10), 0, 20)
    assert first20.tolist() == (np.arange(200) * 30).tolist()


def test_compact_counts_widen_and_keep_nan():
    from neurodyn.data.convert import CompactCounts

    c = CompactCounts((2, 3, 2))
    c.put(slice(0, 1), np.array([[[0, 1, np.nan], [254, 2, 3]]], np.float32))
    assert c.codes.dtype == np.uint8
    c.put(slice(1, 2), np.array([[[300, 0, 0], [np.nan, 70000, 1]]], np.float32))  # 300 -> uint16 -> uint32
    assert c.codes.dtype == np.uint32
    got = c.floats(slice(0, 2), slice(0, 3))
    np.testing.assert_array_equal(got[:, :, 0], [[0, 1, np.nan], [254, 2, 3]])
    np.testing.assert_array_equal(got[:, :, 1], [[300, 0, 0], [np.nan, 70000, 1]])
