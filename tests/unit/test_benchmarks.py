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


@pytest.mark.parametrize("script", ["convert.py", "train.py", "dag.py", "jobs.py", "make_mc_maze_like.py", "nlb_reference.py"])
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


def test_jobs_summary_maps_every_benchmark_file_to_its_rule(tmp_path, capsys):
    """Each rule's benchmark file is attributed to that rule (the most specific pattern wins)."""
    import jobs

    bench = tmp_path / "results" / "benchmarks"
    files = {"dcf/baseline_neural_vae_seed1.tsv": "dcf_baseline_neural_seed", "dcf/baseline_neural_vae.tsv": "dcf_baseline_neural",
             "download/000140/sub-Jenkins/a.nwb.tsv": "download_asset", "erdiff/m1_bundled/d6/s0.tsv": "erdiff_experiment",
             "metadyn/train/lc_few_meta_seed0.tsv": "metadyn_train", "simulate/lc_pool_00.tsv": "simulate_session"}
    for i, rel in enumerate(files):
        (bench / rel).parent.mkdir(parents=True, exist_ok=True)
        (bench / rel).write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
                                 f"{i + 1}.0\t0:00:01\t100.0\t1\t1\t1\t0\t0\t50\t{i + 0.5}\n")
    assert jobs.main(["--root", str(tmp_path), "--no-startup", "--json", str(tmp_path / "j.json")]) == 0
    rows = {r["path"]: r for r in json.loads((tmp_path / "j.json").read_text())["jobs"]}
    assert {p: r["rule"] for p, r in rows.items()} == files
    assert rows["erdiff/m1_bundled/d6/s0.tsv"]["cpu_s"] == 3.5
    assert "| erdiff_experiment | 1 |" in capsys.readouterr().out
