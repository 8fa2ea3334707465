"""The Meta-dynamical SSM plan (neurodyn.metadyn.plan) on a small config with known answers, and on config.yaml
and the demo: every run a figure, table or the scorecard reads is one the train/transfer rules make."""

from __future__ import annotations

import re

import pytest

from neurodyn import config as ndc
from neurodyn.data.families import expand, family_sessions
from neurodyn.metadyn import plan
from tests.conftest import REPO

DEFAULTS = {"model": {"latent_dim": 2}, "train": {"n_steps": 10}, "forecast": {"horizon_bins": 5}, "fewshot": {"ks": [1, 4]}}
MD = {
    **DEFAULTS,
    "seeds": [0, 1],
    "experiments": {
        "few": {"sessions": ["lc_a", "lc_b"], "targets": ["lc_t"], "variants": ["meta", "shared", "single"], "likelihood": "gaussian",
                "family_param": "omega", "train": {"n_steps": 20}},
        "many": {"sessions": ["lc_a", "lc_b", "lc_c"], "targets": [], "variants": ["meta"], "likelihood": "gaussian",
                 "family_param": "omega", "seeds": [3]},
        "gone": {"sessions": ["lc_missing"], "targets": [], "variants": ["meta"], "likelihood": "poisson"},
    },
    "figures": {"few": "few", "many": "many"},
}
SESSIONS = {name: {"source": {"simulate": {"params": {"omega": omega}}}} for name, omega in
            (("lc_a", 3.0), ("lc_b", 1.0), ("lc_c", 2.0), ("lc_t", 5.0), ("lc_missing", 9.0))}


def make(buildable=lambda names: [n for n in names if n != "lc_missing"]):
    return plan.MetadynPlan(MD, sessions=SESSIONS, store_of=lambda n: f"stores/{n}.zarr", buildable=buildable,
                            expand=lambda names: list(names), device="cpu")


def test_experiments_get_defaults_and_lose_what_cannot_be_built(capsys):
    p = make()
    assert sorted(p.experiments) == ["few", "many"]  # "gone" has no buildable pretraining session
    assert "metadyn experiment gone" in capsys.readouterr().err
    few = p.experiments["few"]
    assert few["train"] == {"n_steps": 20} and few["model"] == {"latent_dim": 2} and few["seeds"] == [0, 1]
    assert p.experiments["many"]["seeds"] == [3] and p.build["fig2"] and p.build["fewshot"] and not p.build["fig4"]


def test_job_parameters_and_runs():
    p = make()
    params = {v: p.train_params("few", v) for v in ("meta", "shared", "single")}
    assert [params[v]["conditioning"] for v in ("meta", "shared", "single")] == ["hyper", "none", "none"]
    assert params["meta"]["family_values"] == [3.0, 1.0] and params["meta"]["device"] == "cpu"
    assert p.transfer_params("few", "meta")["fewshot"] == {"ks": [1, 4]}
    assert p.runs("train", "few") == {v: [f"results/runs/metadyn/train/few/{v}/seed{s}" for s in (0, 1)] for v in ("meta", "shared")}
    assert list(p.runs("transfer", "few")) == ["meta", "shared", "single"] and p.runs("transfer", "many") == {}
    assert p.runs("train", "gone") == {}
    assert plan.job_seed(0, "few", 1) == plan.job_seed(0, "few", 1) != plan.job_seed(1, "few", 1)


def test_manifests_name_their_inputs():
    p = make()
    fig2 = p.manifest("fig2")
    assert fig2["example_values"] == [1.0, 2.0, 3.0] and fig2["examples"] == ["stores/lc_b.zarr", "stores/lc_c.zarr", "stores/lc_a.zarr"]
    inputs = p.inputs("fig2")
    assert "results/runs/metadyn/train/many/meta/seed3" in inputs and "stores/lc_c.zarr" in inputs
    fewshot = p.manifest("fewshot")
    assert list(fewshot["experiments"]) == ["few"] and fewshot["ks"] == [1, 4]
    assert "results/runs/metadyn/transfer/few/single/seed1" in p.inputs("fewshot")
    assert p.manifest("fig5") == {"M": 0, "train": {}, "transfer": {}, "stores": [], "values": []}


RUN = re.compile(r"results/runs/metadyn/(?P<kind>train|transfer)/(?P<exp>[^/]+)/(?P<variant>\w+)/seed(?P<seed>\d+)$")


@pytest.mark.parametrize("configs", [["config.yaml"], ["config.yaml", "config/demo.yaml"]], ids=["full", "demo"])
def test_every_run_a_manifest_reads_is_a_job_of_its_experiment(configs):
    config = ndc.load(*(REPO / c for c in configs))
    sessions = {**family_sessions(config), **config["sessions"]}
    p = plan.MetadynPlan(config["metadyn"], sessions=sessions, store_of=lambda n: f"results/sessions/{n}.zarr",
                         buildable=lambda names: list(names), expand=lambda names: expand(config, names), device="cpu")
    seen = 0
    for which in (*plan.FIGURES, "scorecard"):
        for path in p.inputs(which):
            m = RUN.match(path)
            if not m:
                assert path.startswith("results/sessions/"), path
                continue
            seen += 1
            exp = p.experiments[m["exp"]]
            assert m["variant"] in exp["variants"] and int(m["seed"]) in exp["seeds"], path
            assert m["kind"] == "transfer" or m["variant"] != "single", path  # single is never pretrained
            assert m["kind"] == "train" or exp["targets"], path
    assert seen
