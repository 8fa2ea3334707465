"""Run records publish atomically, keep resume state only for the same config, and load on CPU."""

from __future__ import annotations

import json
import math

import torch

from neurodyn.runrecord import RunRecord, read_metrics


def test_finish_publishes_folder(tmp_path):
    out = tmp_path / "run"
    record = RunRecord(out, {"lr": 1e-3}, seed=3)
    record.save_torch("model.pt", {"w": torch.ones(2, requires_grad=True)})
    assert not out.exists()  # nothing that looks finished before finish()
    record.finish({"r2": 0.5, "nll_nats": math.nan})
    assert read_metrics(out) == {"r2": 0.5, "nll_nats": None}
    assert json.loads((out / "config.json").read_text()) == {"lr": 1e-3}
    assert json.loads((out / "run.json").read_text())["seed"] == 3
    state = torch.load(out / "model.pt", weights_only=True, map_location="cpu")
    assert torch.equal(state["w"], torch.ones(2))
    assert not (tmp_path / "run.partial").exists()


def test_resume_state_is_dropped_when_config_changes(tmp_path):
    out = tmp_path / "run"
    first = RunRecord(out, {"lr": 1e-3}, seed=0)
    first.save_torch(first.resume_path.name, {"step": 5})
    same = RunRecord(out, {"lr": 1e-3}, seed=0)
    assert same.resume_path.exists()
    other = RunRecord(out, {"lr": 1e-2}, seed=0)
    assert not other.resume_path.exists()
