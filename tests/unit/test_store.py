"""The session-store contract: written atomically, read back identically, broken stores named clearly."""

from __future__ import annotations

import numpy as np
import pytest

from neurodyn import store
from neurodyn.errors import InputError


def _session(**overrides):
    rng = np.random.default_rng(0)
    kwargs = dict(
        name="toy",
        spikes=rng.poisson(1.0, size=(6, 10, 4)).astype(float),
        bin_ms=5,
        time_ms=np.arange(10) * 5.0 - 20,
        align_event="move_onset_time",
        source={"simulator": "toy", "params": {"rate": 1.0}},
        heldout=np.array([False, False, True, True]),
        split=np.array(["train"] * 4 + ["val"] * 2),
        condition=np.array(list("aabbab")),
        behaviour={"hand_vel": (rng.normal(size=(6, 10, 2)), ["x", "y"])},
        spikes_forward=np.zeros((6, 4, 4)),
    )
    kwargs.update(overrides)
    return store.make_session(**kwargs)


def test_round_trip(tmp_path):
    ds = _session()
    ds["spikes"][0, 0, 0] = np.nan  # unobserved bin stays NaN, never silence
    path = store.write_session(ds, tmp_path / "toy.zarr")
    back = store.open_session(path)
    np.testing.assert_array_equal(back["spikes"].values, ds["spikes"].values)
    assert back.attrs["source"] == {"simulator": "toy", "params": {"rate": 1.0}}
    assert list(back["heldout"].values) == [False, False, True, True]
    assert back["time_forward"].values[0] == 30.0  # starts right after the window
    assert back.attrs["window_ms"] == [-20.0, 30.0]


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    ds = _session()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(type(ds), "to_zarr", boom)
    with pytest.raises(RuntimeError):
        store.write_session(ds, tmp_path / "toy.zarr")
    assert list(tmp_path.iterdir()) == []


def test_missing_store_is_one_clear_line(tmp_path):
    with pytest.raises(InputError, match="no such path"):
        store.open_session(tmp_path / "absent.zarr")


def test_contract_violation_names_the_field(tmp_path):
    ds = _session().drop_vars("split")
    with pytest.raises(InputError) as err:
        store.write_session(ds, tmp_path / "x.zarr")
    assert err.value.field == "split"
    assert not (tmp_path / "x.zarr").exists()
