"""The rehearsal's pieces: stand-in plan and files, overlay/lock pins, the step cap, the marks, the jobs table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from neurodyn import rehearsal
from neurodyn.config import load
from neurodyn.rehearsal import jobs, marker, standins

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def config():
    return load(ROOT / "config.yaml")


def test_plan_covers_every_asset_with_real_unit_counts(config):
    plans = standins.plan(config)
    keys = {p.key for p in plans}
    assert len([p for p in plans if p.pinned]) == 14
    locked = [k for d, e in config["unpinned"].items() for k in (f"{d}/{a}" for a in e["assets"])]
    assert set(locked) <= keys and len(plans) == 14 + len(locked)
    by = {(p.dataset, p.role): p for p in plans if p.pinned}
    assert (by["mc_maze", "train"].n_units, by["mc_maze", "train"].n_heldout) == (182, 45)
    assert by["mc_maze", "train"].n_trials == 2295  # full size by default
    assert (by["mc_maze_small", "test"].n_units, by["mc_maze_small", "test"].n_heldout) == (107, 0)
    assert by["dmfc_rsg", "train"].layout == "dmfc" and by["mc_rtt", "test"].layout == "rtt_test"
    assert all(p.n_trials <= p.real_trials for p in plans)


def test_min_trials_and_scale(config):
    plans = standins.plan(config, scale=0.5, full=(), min_trials={"train": 10})
    p = next(p for p in plans if p.dataset == "mc_maze" and p.role == "train")
    assert p.n_trials == round(2295 * 0.5)
    with pytest.raises(Exception):
        standins.plan(config, scale=0.0)


def _convert(tmp_path, config, session, nwb):
    from neurodyn.data.convert import convert
    from neurodyn.data.sources import SessionSources
    from neurodyn.store import open_session

    spec = SessionSources(config).convert_spec(session)
    # a stand-in is not the pinned asset: convert it without the real pins (the rehearsal run pins it itself)
    spec["provenance"] = {k: v for k, v in spec["provenance"].items() if k not in ("size", "sha256", "etag")}
    out = tmp_path / f"{session}.zarr"
    convert([nwb], spec, out)
    return open_session(out)


@pytest.mark.parametrize("session,layout", [("mc_maze_small_test", "maze_test"), ("dmfc_rsg_train", "dmfc"),
                                            ("co_c_20131022", "centre_out")])
def test_standins_convert_like_the_real_layout(tmp_path, config, session, layout):
    """A stand-in of each of three layouts goes through `neurodyn convert` with the session's real spec."""
    from neurodyn.data.sources import SessionSources

    src = SessionSources(config)
    asset = src._dandi_asset(session)
    p = next(p for p in standins.plan(config, min_trials={"test": 24, "train": 30, "locked": 30}) if p.path == asset["path"])
    assert p.layout == layout
    p.n_trials = min(p.n_trials, 30)
    from neurodyn.simulate.nwb_writer import write_nwb

    nwb = tmp_path / Path(p.path).name
    write_nwb(standins.simulate(p, 0), nwb, seed=0, required_trial_columns=standins.REQUIRED.get(layout, ("start_time", "stop_time", "split")))
    ds = _convert(tmp_path, config, session, nwb)
    n_bins = {"maze_test": 140, "dmfc": 300, "centre_out": 35}[layout]
    assert ds["spikes"].shape[1:] == (n_bins, p.n_units)
    assert int(ds["heldout"].sum()) == p.n_heldout
    if layout == "centre_out":
        # movement onset derived from cursor speed: every trial has one, after its go cue
        assert ds.attrs["derived_align_event"]["column"] == "move_onset_time"
        assert ds["spikes"].shape[0] == p.n_trials and "cursor_vel" in ds
        assert set(np.asarray(ds["split"].values).astype(str)) == {"train", "val", "test"}


def test_derived_onset_finds_the_reach(tmp_path):
    """The onset derivation recovers a known reach onset from a velocity series to within a sample or two."""
    from neurodyn.data.convert import derive_move_onset
    from neurodyn.data.nwb import NWBReader
    from neurodyn.simulate.base import SimulatedRecording
    from neurodyn.simulate.nwb_writer import write_nwb

    t = np.arange(0, 6.0, 0.01)
    onset = np.array([1.3, 4.1])
    speed = sum(np.exp(-0.5 * ((t - (o + 0.15)) / 0.06) ** 2) for o in onset) * 10.0
    vel = np.stack([speed, 0 * speed], 1)
    rec = SimulatedRecording(name="x", rate_hz=100.0, trials={"start_time": np.array([0.5, 3.5]), "stop_time": np.array([2.5, 5.5]),
                                                             "go_cue_time": np.array([1.0, 3.8])},
                             spike_times=[np.array([1.0, 4.0])], behaviour={"cursor_vel": (vel, ["x", "y"])})
    path = tmp_path / "x.nwb"
    write_nwb(rec, path, seed=0, required_trial_columns=("start_time", "stop_time"))
    with NWBReader(path) as nwb:
        _ids, cols = nwb.trials()
        got = derive_move_onset(nwb, cols, {"series": "cursor_vel", "after": "go_cue_time", "fraction": 0.3}, path)
    # 30 % of a Gaussian peak is reached 1.55 s.d. before it
    assert np.allclose(got, onset + 0.15 - 1.55 * 0.06, atol=0.021)


def test_lock_and_overlay_obey_the_lock_schema(tmp_path, config):
    plans = [p for p in standins.plan(config) if p.dandiset in ("000688", "000140")]
    manifest = {p.key: {"size": 1234, "sha256": "a" * 64, "etag": "b" * 32 + "-1"} for p in plans}
    lock = standins.lock_for(config, plans, manifest)
    assert list(lock) == ["api_url", "locked_at", "dandisets", "assets"]
    for key, entry in lock["assets"].items():
        dandiset, path = key.split("/", 1)
        assert re.fullmatch(r"[0-9]{6}", dandiset) and entry["path"] == path
        assert re.fullmatch(r"sub-[A-Za-z0-9_.+-]+/[A-Za-z0-9_.+-]+\.nwb", path)
        assert isinstance(entry["size"], int) and re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])
        assert set(entry) == {"path", "version", "asset_id", "size", "sha256", "etag"}
    overlay = standins.overlay_for(config, plans, manifest, tmp_path, max_steps=2)
    merged = __import__("neurodyn.config", fromlist=["merge"]).merge(config, overlay)
    __import__("neurodyn.config", fromlist=["validate"]).validate(merged)
    assert merged["datasets"]["mc_maze_small"]["assets"]["test"]["size"] == 1234
    assert merged["rehearsal"]["max_steps"] == 2 and merged["offline"] is True


def test_step_cap_and_marks(monkeypatch):
    monkeypatch.delenv(rehearsal.ENV_MAX_STEPS, raising=False)
    assert rehearsal.cap_steps(500) == 500 and not rehearsal.active()
    monkeypatch.setenv(rehearsal.ENV_MAX_STEPS, "2")
    assert rehearsal.cap_steps(500) == 2 and rehearsal.cap_steps(1) == 1
    md = marker.mark_markdown("| a |\n")
    assert md.startswith("> **REHEARSAL") and marker.mark_markdown(md) == md
    csv = marker.mark_csv("a,b\n1,2\n")
    assert csv.splitlines()[0] == "rehearsal,a,b" and csv.splitlines()[1].startswith("rehearsal (max_steps 2),1,2")
    monkeypatch.setenv(rehearsal.ENV_MAX_STEPS, "zero")
    with pytest.raises(ValueError):
        rehearsal.max_steps()


def test_fit_stops_at_the_cap(monkeypatch):
    import torch

    from neurodyn.loop import fit

    monkeypatch.setenv(rehearsal.ENV_MAX_STEPS, "3")
    lin = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(lin.parameters(), lr=0.1)
    calls = []

    def step(i, gen):
        calls.append(i)
        return {"loss": lin(torch.ones(1, 2)).pow(2).sum()}

    res = fit(modules={"m": lin}, optimizer=opt, step_fn=step, n_steps=1000, record=None, seed=0, label="t")
    assert calls == [0, 1, 2] and res.steps == 3


def test_ode_solves_and_glm_fits_stop_at_the_cap(monkeypatch):
    """Beyond the training loops, a rehearsal caps DCF's ODE solves (Euler, `cap` field evaluations per unit of
    time) and both Poisson GLM fitters' iterations; outside one, the configured solver and iterations run."""
    import numpy as np
    import torch

    from neurodyn.metrics import glm
    from neurodyn.models.dcf.model import _ode_kwargs

    ode = {"method": "dopri5", "rtol": 1e-4, "atol": 1e-5, "max_num_steps": 1000, "step_size": 0.05}
    monkeypatch.delenv(rehearsal.ENV_MAX_STEPS, raising=False)
    assert _ode_kwargs(ode)["method"] == "dopri5"
    from torchdiffeq import odeint

    evals = []

    def field(t, y):
        evals.append(float(t))
        return -y

    odeint(field, torch.ones(3), torch.tensor([1.0, 0.0]), **_ode_kwargs(ode))
    assert len(evals) > 6  # dopri5: at least one step of 6 stages
    monkeypatch.setenv(rehearsal.ENV_MAX_STEPS, "2")
    assert _ode_kwargs(ode) == {"method": "euler", "options": {"step_size": 0.5}}
    evals.clear()
    odeint(field, torch.ones(3), torch.tensor([1.0, 0.0]), **_ode_kwargs(ode))
    assert len(evals) == 2

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    y = rng.poisson(np.exp(0.5 * x @ rng.normal(size=(3, 2)))).astype(float)
    calls = {"n": 0}
    real_exp = torch.exp

    def counting_exp(t):
        calls["n"] += 1
        return real_exp(t)

    monkeypatch.setattr(glm.torch, "exp", counting_exp)
    glm.fit_poisson_glm_lbfgs(x, y, l2=1e-3, max_iter=200)
    capped = calls["n"]
    monkeypatch.delenv(rehearsal.ENV_MAX_STEPS)
    calls["n"] = 0
    glm.fit_poisson_glm_lbfgs(x, y, l2=1e-3, max_iter=200)
    assert capped <= 4 < calls["n"]  # L-BFGS: at most a few closure calls per capped iteration


def test_atomic_outputs_are_marked_only_in_a_rehearsal(tmp_path, monkeypatch):
    from neurodyn.utils.atomic import write_text

    monkeypatch.delenv(rehearsal.ENV_MAX_STEPS, raising=False)
    write_text(tmp_path / "t.md", "x\n")
    assert (tmp_path / "t.md").read_text() == "x\n"
    monkeypatch.setenv(rehearsal.ENV_MAX_STEPS, "1")
    write_text(tmp_path / "t.md", "x\n")
    write_text(tmp_path / "t.json", "{}")
    assert "REHEARSAL" in (tmp_path / "t.md").read_text() and (tmp_path / "t.json").read_text() == "{}"


SNAKE_LOG = """\
[Tue Dec  1 21:10:07 2026]
rule convert_session:
    input: a.nwb
    output: results/sessions/x.zarr
    log: results/logs/convert/x.log
    jobid: 12
    reason: Missing output files
    wildcards: session=x
    threads: 1
    resources: tmpdir=/tmp, mem_mb=4000, mem_mib=3815, runtime=60

Shell command: neurodyn convert ...
[Tue Dec  1 21:10:08 2026]
localrule download_asset:
    output: data/raw/000140/sub-J/f.nwb
    log: results/logs/download/f.log
    jobid: 3
    resources: tmpdir=/tmp, mem_mb=4000, runtime=60

[Tue Dec  1 21:10:09 2026]
rule metadyn_train:
    output: results/runs/metadyn/train/m
    log: results/logs/metadyn/m.log
    jobid: 7
    threads: 2
    resources: tmpdir=/tmp, mem_mb=16000, runtime=720, gpu=1
"""


def test_jobs_table_flags_memory_over_the_request(tmp_path):
    parsed = jobs.parse_snakemake_log(SNAKE_LOG)
    assert [j.rule for j in parsed] == ["convert_session", "download_asset", "metadyn_train"]
    assert parsed[1].local and parsed[2].resources["gpu"] == 1 and parsed[2].threads == 2
    probe = tmp_path / "probe.jsonl"
    recs = [{"log": str(tmp_path / "results/logs/convert/x.log"), "max_rss_mb": 5000.0, "wall_s": 12.0, "rc": 0},
            {"log": str(tmp_path / "results/logs/metadyn/m.log"), "max_rss_mb": 900.0, "wall_s": 50000.0, "rc": 0}]
    probe.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    profile = {"default-resources": {"mem_mb": 4000, "runtime": 60}, "set-resources": {"metadyn_train": {"mem_mb": 500}}}
    rows = {r["rule"]: r for r in jobs.table(parsed, jobs.measurements(probe), profile, str(tmp_path))}
    assert rows["convert_session"]["flag"].startswith("MEMORY")
    assert "MEMORY" in rows["metadyn_train"]["flag"] and "TIME" in rows["metadyn_train"]["flag"]  # set-resources wins
    assert rows["download_asset"]["flag"].startswith("not measured")
    md = jobs.to_markdown(list(rows.values()), "# t")
    assert "2 flagged" in md


def test_budget_line_names_the_costliest_rules_only_when_over():
    rows = [{"rule": "a", "cpu_s": 300.0}, {"rule": "b", "cpu_s": 100.0}, {"rule": "a", "cpu_s": 100.0}, {"rule": "c", "cpu_s": None}]
    assert jobs.budget_line(rows, 1700, 1800).startswith("Within the budget: 1700 s")
    line = jobs.budget_line(rows, 2000, 1800)
    assert line.startswith("OVER the budget: 2000 s wall against 1800 s (500 CPU-s") and "a 400 CPU-s (80 %), b 100 CPU-s (20 %)" in line


def test_probe_records_the_child(tmp_path, monkeypatch):
    from neurodyn.rehearsal import probe

    log = tmp_path / "p.jsonl"
    monkeypatch.setenv(probe.ENV_LOG, str(log))
    assert probe.main(["--version"]) == 0
    rec = json.loads(log.read_text())
    assert rec["rc"] == 0 and rec["max_rss_mb"] > 1 and rec["argv"] == ["--version"]


def test_dmfc_standin_gets_jitter_trial_fields_and_tp_corr(tmp_path, config):
    """DMFC_RSG's stand-in through convert (alignment jitter, trial fields) and the smoothing evaluation (tp corr)."""
    from neurodyn.data.sources import SessionSources
    from neurodyn.evaluate.nlb_smoothing import evaluate_store, set_go_mask
    from neurodyn.simulate.nwb_writer import write_nwb

    asset = SessionSources(config)._dandi_asset("dmfc_rsg_train")
    p = next(p for p in standins.plan(config) if p.path == asset["path"])
    p.n_trials = 80
    nwb = tmp_path / Path(p.path).name
    write_nwb(standins.simulate(p, 0), nwb, seed=0, required_trial_columns=("start_time", "stop_time", "split"))
    ds = _convert(tmp_path, config, "dmfc_rsg_train", nwb)
    jitter = np.asarray(ds["align_jitter_ms"].values)
    tp = np.asarray(ds["trial_tp"].values)
    split = np.asarray(ds["split"].values).astype(str)
    assert np.all(jitter <= np.clip(1500 - tp, 0, 300)) and jitter.max() > 0 and np.all(jitter[split == "test"] == 0)
    mask = set_go_mask(ds)
    # set→go lasts tp (to a bin) where it fits the window (jitter keeps set inside it when tp <= 1500 ms)
    assert np.allclose(mask.sum(1) * 5.0, np.minimum(tp, 1500.0 - jitter), atol=5.0)
    row = evaluate_store(ds, config["nlb"]["dmfc_rsg"], {"smoothing_sd_ms": 50, "glm_l2": 1e-3, "glm_max_iter": 30})
    assert np.isfinite(row["tp_corr"]) and -1 <= row["tp_corr"] <= 1 and np.isfinite(row["co_bps_bits_per_spike"])


def test_gpu_mode_refuses_without_cuda(capsys):
    import torch

    from neurodyn.rehearsal import gpu

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the refusal path does not apply")
    assert gpu.main([]) == gpu.EXIT_NO_GPU
    assert "no GPU on this machine" in capsys.readouterr().err


def test_local_rules_are_read_from_the_workflow():
    assert {"download_asset", "lock_dandisets", "scorecard"} <= jobs.local_rules(ROOT / "workflow" / "rules")
    assert "convert_session" not in jobs.local_rules(ROOT / "workflow" / "rules")


def test_probe_stops_a_job_at_the_limit(tmp_path, monkeypatch):
    from neurodyn.rehearsal import probe

    log = tmp_path / "p.jsonl"
    monkeypatch.setenv(probe.ENV_LOG, str(log))
    monkeypatch.setenv(probe.ENV_LIMIT, "1")
    monkeypatch.setattr(probe, "CHILD", ["-c", "import time; time.sleep(60)"])  # a job that outlives the limit
    code = probe.main([])
    rec = json.loads(log.read_text().splitlines()[-1])
    assert rec["stopped_at_limit_s"] == 1 and rec["wall_s"] < 30 and code != 0
    row = jobs.table([jobs.Job(rule="r", log="x.log", jobid="1")], {str(tmp_path / "x.log"): {**rec, "log": str(tmp_path / "x.log")}},
                     {"default-resources": {"mem_mb": 4000, "runtime": 60}}, str(tmp_path))[0]
    assert "STOPPED at the rehearsal's per-job limit" in row["flag"]
