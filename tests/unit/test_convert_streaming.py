"""The fast conversion paths give the same answers as the simple ones: FIR taps, window incidences, streamed store."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neurodyn import store
from neurodyn.data import binning


@pytest.mark.parametrize("q", [2, 4, 5, 20])
def test_fir_coefficients_equal_scipy_firwin(q):
    from scipy.signal import firwin

    np.testing.assert_allclose(binning.fir_coefficients(q), firwin(501, 1.0 / q, window="hamming"), rtol=1e-12, atol=1e-15)


def test_window_entries_count_like_count_spikes_with_overlapping_windows():
    rng = np.random.default_rng(3)
    spikes = np.sort(rng.uniform(0, 5.0, 4000))
    lo, hi = binning.interval_ms_bounds(np.array([[0.0, 5.0]]))
    first = np.array([10, 12, 40, 40, 100, 3])  # overlapping, repeated and unsorted windows (5 ms bins)
    n_bins, bin_ms = 30, 5
    want, _ = binning.count_spikes(spikes, first, n_bins, bin_ms, lo, hi)
    spike, flat = binning.window_entries(binning.spike_ms_index(spikes), first, n_bins, bin_ms)
    got = np.bincount(flat, minlength=len(first) * n_bins).reshape(len(first), n_bins)
    np.testing.assert_array_equal(got, want)
    assert spike.size == want.sum()


def test_streamed_write_equals_in_memory_write(tmp_path):
    rng = np.random.default_rng(0)
    spikes = rng.poisson(1.0, (23, 7, 5)).astype(np.float32)
    spikes[3, :2] = np.nan
    forward = rng.poisson(1.0, (23, 3, 5)).astype(np.float32)
    kwargs = dict(name="t", bin_ms=5, time_ms=np.arange(7) * 5.0, align_event="e", source={"x": 1},
                  heldout=np.array([0, 1, 0, 0, 1], bool), split=np.array(["train", "val"] * 11 + ["test"]),
                  behaviour={"hand_vel": (rng.normal(size=(23, 7, 2)), ["x", "y"])})
    full = store.make_session(spikes=spikes, spikes_forward=forward, **kwargs)
    lazy = store.make_session(spikes=np.broadcast_to(np.float32(np.nan), spikes.shape),
                              spikes_forward=np.broadcast_to(np.float32(np.nan), forward.shape), **kwargs)
    store.write_session(full, tmp_path / "full.zarr")
    calls = []

    def block(a, b):
        calls.append((a, b))
        return {"spikes": spikes[a:b], "spikes_forward": forward[a:b]}

    store.write_session(lazy, tmp_path / "lazy.zarr", stream=(["spikes", "spikes_forward"], block))
    a, b = store.open_session(tmp_path / "full.zarr").load(), store.open_session(tmp_path / "lazy.zarr").load()
    xr.testing.assert_identical(a, b)
    assert calls[0][0] == 0 and calls[-1][1] == 23
