"""The benchmark scripts run (no timing is asserted): --help, a tiny MC_Maze-like file, the timed-fit launcher."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))


@pytest.mark.parametrize("script", ["convert.py", "train.py", "dag.py", "make_mc_maze_like.py", "nlb_reference.py"])
def test_help(script):
    out = subprocess.run([sys.executable, str(BENCH / script), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "usage" in out.stdout


def test_tiny_mc_maze_like_file_has_the_nlb_layout_and_converts(tmp_path):
    import make_mc_maze_like

    from neurodyn.data.convert import convert
    from neurodyn.store import open_session

    path = tmp_path / "m.nwb"
    assert make_mc_maze_like.main(["--out", str(path), "--scale", "0.004"]) == 0
    with h5py.File(path, "r") as f:
        assert f["units/id"].shape == (182,) and int(f["units/heldout"][()].sum()) == 45
        assert {"move_onset_time", "split", "trial_type", "trial_version"} <= set(f["intervals/trials"])
        beh = f["processing/behavior"]
        assert set(beh) == {"hand_pos", "hand_vel", "cursor_pos", "eye_pos"}
        link = beh["hand_vel"].get("timestamps", getlink=True)
        assert isinstance(link, h5py.SoftLink)  # timestamps stored once, shared
        ts = beh["hand_pos/timestamps"][()]
        np.testing.assert_allclose(np.diff(ts), 1e-3, atol=1e-9)
        n_trials = f["intervals/trials/id"].shape[0]
    spec = {"name": "m", "bin_ms": 5, "kind": "dandi", "format": "nwb", "provenance": {},
            "nlb": {"name": "mc_maze", "align_event": "move_onset_time", "window_ms": [-250, 450], "behaviour": "hand_vel",
                    "lag_ms": 100, "forward_ms": 200, "psth_conditions": ["trial_type", "trial_version"]}}
    convert([path], spec, tmp_path / "m.zarr")
    ds = open_session(tmp_path / "m.zarr")
    assert ds.spikes.shape == (n_trials, 140, 182)
    assert np.isfinite(ds.spikes.values).all() and ds.spikes.values.sum() > 0  # windows lie inside the trials


def test_timed_fit_caps_steps_and_records(tmp_path, monkeypatch):
    import timed_neurodyn

    from neurodyn import loop

    log = tmp_path / "t.jsonl"
    monkeypatch.setattr(timed_neurodyn, "LOG", str(log))
    monkeypatch.setattr(timed_neurodyn, "STEPS", 4)
    monkeypatch.setattr(timed_neurodyn, "WARMUP", 1)
    monkeypatch.setattr(loop, "fit", loop.fit)  # restored after the test
    argv = ["train", "toy", "--params", json.dumps({"model": {"batch_size": 8}}), "--out", "x"]
    timed_neurodyn.wrap_fit(loop, argv)
    net = torch.nn.Linear(3, 1)
    calls = []

    def step(i, gen):
        calls.append(i)
        x = torch.randn(8, 3, generator=gen)
        return {"loss": net(x).pow(2).mean()}

    loop.fit(modules={"net": net}, optimizer=torch.optim.SGD(net.parameters(), lr=0.1), step_fn=step, n_steps=100,
             record=None, seed=0, label="toy")
    assert calls == [0, 1, 2, 3, 4]
    rec = json.loads(log.read_text().splitlines()[0])
    assert rec["requested_steps"] == 100 and rec["timed_steps"] == 4 and rec["samples_per_step"] == 8
    assert rec["s_per_step"] > 0 and rec["argv"][2] == "--params" and rec["argv"][3] == "{...}"


def test_samples_per_step_needs_one_unambiguous_value():
    import timed_neurodyn

    assert timed_neurodyn.samples_per_step(["train", "x", "--params", '{"a": {"batch_size": 4}, "b": [{"batch_size": 4}]}']) == 4
    assert timed_neurodyn.samples_per_step(["train", "x", "--params", '{"a": {"batch_size": 4}, "b": {"batch_size": 5}}']) is None
    assert timed_neurodyn.samples_per_step(["train", "x"]) is None
