"""ERDiff's plan (neurodyn.erdiff.plan): jobs, the methods each runs, run folders, seeds — on a small config
with known answers, and on config.yaml and the demo: every run record a table or figure reads is made by the job
whose folder holds it."""

from __future__ import annotations

import re

import pytest

from neurodyn import config as ndc
from neurodyn.erdiff import plan
from tests.conftest import REPO

METHODS = ["oracle", "no_align", "jsdm", "erdiff"]
ERD = {
    "seeds": [0, 1],
    "methods": METHODS,
    "vae": {"latent_dim": 6, "hidden": 32},
    "prior": {"noise_scale": 1.0},
    "pairs": {
        "m1": {"setting": "cross_day", "source": "a", "target": "b", "behaviour": None, "vae": {}},
        "syn": {"setting": "synthetic", "source": "s", "target": "t", "behaviour": None, "vae": {"latent_dim": 2}, "seeds": [0]},
    },
    "latents_figure": {"pair": "m1", "seed": 0, "methods": ["erdiff", "daf"]},
    "robustness": {"pair": "m1", "seeds": [0], "latent_dims": [4, 6], "noise_scales": [0.5, 1.0], "baseline": "daf"},
}


def test_noise_tags_and_folders():
    assert plan.noise_tag(1.0) == "1" and plan.noise_tag(0.5) == "0.5" and plan.noise_tag("2") == "2"
    assert plan.align_run(ERD, "m1", "jsdm", 1) == "results/runs/erdiff/m1/d6/s1/jsdm_n1"
    assert plan.align_run(ERD, "syn", "erdiff", 0, noise=0.5) == "results/runs/erdiff/syn/d2/s0/erdiff_n0.5"
    assert plan.jobs_of(["results/runs/erdiff/m1/d6/s1/jsdm_n1", "results/runs/erdiff/m1/d6/s1/erdiff_n1"]) == ["results/runs/erdiff/m1/d6/s1"]


def test_pair_overrides_and_seeds():
    assert plan.main_dim(ERD, "syn") == 2 and plan.pair_vae(ERD, "syn", 3) == {"latent_dim": 3, "hidden": 32}
    assert plan.seeds(ERD, "m1") == [0, 1] and plan.seeds(ERD, "syn") == [0]
    assert plan.job_seed(0, "m1", 1) != plan.job_seed(3, "m1", 1) != plan.job_seed(0, "m1", 0)
    assert plan.job_seed(0, "m1", 1) == plan.job_seed(0, "m1", 1)


def test_job_plan_table_then_figure_then_sweep_without_repeats():
    main = plan.job_plan(ERD, "m1", 6, 0)
    assert [(p["method"], p["noise"]) for p in main] == [
        ("oracle", 1.0), ("no_align", 1.0), ("jsdm", 1.0), ("erdiff", 1.0),   # Table 1
        ("daf", 1.0),                                                       # latents figure (erdiff already there)
        ("erdiff", 0.5),                                                    # noise sweep (1.0 already there)
    ]
    assert plan.job_plan(ERD, "m1", 6, 1) == [{"method": m, "noise": 1.0} for m in METHODS]  # not a figure seed
    assert plan.job_plan(ERD, "m1", 4, 0) == [{"method": "erdiff", "noise": 1.0}, {"method": "daf", "noise": 1.0}]
    assert plan.job_plan(ERD, "m1", 4, 1) == []
    assert "oracle" not in [p["method"] for p in plan.job_plan(ERD, "syn", 2, 0)]  # no behaviour to regress


def test_available_pairs_by_setting():
    can = lambda names: "t" not in names  # noqa: E731 — the synthetic target cannot be built
    assert plan.available_pairs(ERD, can) == ["m1"]
    assert plan.available_pairs(ERD, can, "synthetic") == []
    assert plan.available_pairs(ERD, lambda names: True, "synthetic") == ["syn"]


def test_table_and_figure_runs():
    table = plan.table_runs(ERD, ["m1", "syn"])
    assert len(table) == len(METHODS) * 2 + (len(METHODS) - 1) * 1
    assert plan.robustness_runs(ERD, []) == []
    rb = plan.robustness_runs(ERD, ["m1"])
    assert "results/runs/erdiff/m1/d4/s0/daf_n1" in rb and "results/runs/erdiff/m1/d6/s0/erdiff_n0.5" in rb
    assert plan.latents_source(ERD) == "results/runs/erdiff/m1/d6/s0/source"
    assert plan.synthetic_sources(ERD, ["syn"]) == ["results/runs/erdiff/syn/d2/s0/source"]


RUN = re.compile(r"results/runs/erdiff/(?P<pair>[^/]+)/d(?P<dim>\d+)/s(?P<seed>\d+)/(?P<method>\w+)_n(?P<noise>[\d.]+)$")


@pytest.mark.parametrize("configs", [["config.yaml"], ["config.yaml", "config/demo.yaml"]], ids=["full", "demo"])
def test_every_run_a_table_or_figure_reads_is_planned_by_its_job(configs):
    erd = ndc.load(*(REPO / c for c in configs))["erdiff"]
    pairs = [p for p, spec in erd["pairs"].items() if spec["setting"] != "synthetic"]
    synthetic = [p for p, spec in erd["pairs"].items() if spec["setting"] == "synthetic"]
    runs = plan.table_runs(erd, pairs + synthetic) + plan.robustness_runs(erd, pairs) + plan.latents_runs(erd)
    assert runs
    for run in runs:
        m = RUN.match(run)
        assert m, run
        planned = {(p["method"], plan.noise_tag(p["noise"])) for p in plan.job_plan(erd, m["pair"], m["dim"], m["seed"])}
        assert (m["method"], m["noise"]) in planned, run
