"""The CI slice of the rehearsal (`bash scripts/rehearse.sh` on a few targets): one stand-in per file layout.

What it runs, on 2 cores in ~2 minutes (126 s on a quiet machine with 16 ERDiff restarts, 2026-12-02): stand-ins of one asset per layout (MC_Maze family train with explicit
1 kHz timestamps, an NLB test file without behaviour, MC_RTT with ``rate`` series, Area2_Bump's 102 behaviour
channels, DMFC_RSG without a behaviour module, 000688 centre-out without movement onset or split, 000070 maze),
each through mirror download -> verify -> convert -> overview figure; the NLB smoothing table on the NLB ones
(DMFC_RSG's tp corr with its jitter); and one paper-size training job (ERDiff on the two 000688 cross-day
stand-ins, seed 0, every alignment method) — all with max_steps 1, into a temporary rehearsal tree. The full
rehearsal (every job of config.yaml) is `bash scripts/rehearse.sh`, which is far too long for CI.
"""

from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ASSETS = [
    "sub-Jenkins_ses-small_desc-train_behavior+ecephys.nwb",
    "sub-Jenkins_ses-small_desc-test_ecephys.nwb",
    "sub-Indy_desc-train_behavior+ecephys.nwb",
    "sub-Han_desc-train_behavior+ecephys.nwb",
    "sub-Haydn_desc-train_ecephys.nwb",
    "sub-C_ses-CO-20131022_behavior+ecephys.nwb",
    "sub-C_ses-CO-20131031_behavior+ecephys.nwb",
    "sub-Jenkins_ses-20090912_behavior+ecephys.nwb",
]
SESSIONS = ["mc_maze_small_train", "mc_maze_small_test", "mc_rtt_train", "area2_bump_train", "dmfc_rsg_train",
            "co_c_20131022", "maze_jenkins_20090912"]
TARGETS = [*(f"results/figures/overview/{s}.pdf" for s in SESSIONS), "results/tables/nlb/smoothing.md",
           "results/runs/erdiff/c_cross_day/d8/s0"]


@pytest.fixture(scope="module")
def slice_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("rehearsal")
    env = {**os.environ, "REHEARSAL_DIR": str(out), "REHEARSAL_MAX_STEPS": "1", "REHEARSAL_SCALE": "0.01",
           "REHEARSAL_FULL": "", "REHEARSAL_MIN_TRIALS": "train=40,test=12,locked=60", "REHEARSAL_ONLY": " ".join(ASSETS)}
    proc = subprocess.run(["bash", "scripts/rehearse.sh", "--", *TARGETS], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900, stdin=subprocess.DEVNULL)
    return out, proc


def test_slice_runs_every_layout_through_the_pipeline(slice_run):
    out, proc = slice_run
    assert proc.returncode == 0, proc.stderr[-5000:]
    run = out / "run"
    for target in TARGETS:
        assert (run / target).exists(), target
    # downloads went through the mirror and were verified against the stand-ins' own pins
    logs = list((run / "results" / "logs" / "download").rglob("*.log"))
    assert len(logs) == len(ASSETS) and all("copied from the mirror" in p.read_text() for p in logs)
    table = (run / "results/tables/nlb/smoothing.md").read_text()
    assert table.startswith("> **REHEARSAL") and "dmfc_rsg_train" in table
    csv = (run / "results/tables/nlb/smoothing.csv").read_text().splitlines()
    header = csv[0].split(",")
    dmfc = next(line.split(",") for line in csv[1:] if "dmfc_rsg_train" in line)
    assert header[0] == "rehearsal" and dmfc[header.index("tp_corr")] not in ("", "nan")
    erdiff = run / "results/runs/erdiff/c_cross_day/d8/s0"
    assert any(erdiff.rglob("metrics.json")), sorted(p.name for p in erdiff.iterdir())


def test_slice_writes_the_jobs_table(slice_run):
    out, proc = slice_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = (out / "jobs.md").read_text()
    assert "peak_rss_mb" in jobs and "mem_mb_requested" in jobs and "Wall time:" in jobs
    with open(out / "jobs.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    # exactly the jobs the targets need: a target read as something else (e.g. swallowed by --omit-from, as once
    # happened) would run other jobs and leave these out
    assert {r["rule"] for r in rows} == {"download_asset", "convert_session", "overview_figure", "nlb_smoothing", "erdiff_experiment"}
    assert not [r for r in rows if r["flag"]], [(r["rule"], r["flag"]) for r in rows if r["flag"]]
    assert all(r["peak_rss_mb"] for r in rows)  # every job measured by the probe
    erdiff = next(r for r in rows if r["rule"] == "erdiff_experiment")
    assert "fits, >= 1 steps" in erdiff["steps"]  # the paper-size job ran its capped optimisation steps
