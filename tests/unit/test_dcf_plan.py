"""DCF's plan (neurodyn.dcf.plan): fit parameters, run folders, figure inputs and seeds, with known answers;
on config.yaml and the demo, every run a figure reads is one a DCF rule makes."""

from __future__ import annotations

import re

import pytest

from neurodyn import config as ndc
from neurodyn.dcf import plan
from tests.conftest import REPO

DCF = {
    "model": {"dt": 1.0, "ode": {"method": "dopri5"}},
    "ball": {"session": "ball", "variants": {"p50": 0.02, "p3": 0.33}, "reference_variant": "p50", "latent_dim": 64, "history": 0,
             "nested_dropout": {"ramp_steps": 0, "p_start": 1.0}, "baselines": ["pca", "vae"], "encoder": {"width": 8}, "not_a_fit_key": 1},
    "neural": {"sessions": ["maze"], "seeds": [0, 1, 2], "baselines": ["pca", "vae"], "stability_baselines": ["vae"], "latent_dim": 137},
    "user_video": {"mine": {"frames": "v.npy", "latent_dim": 8}},
}


def test_fit_parameters():
    p = plan.ball_params(DCF, "p3")
    assert p["nested_dropout"] == {"ramp_steps": 0, "p_start": 1.0, "p": 0.33} and p["variant"] == "p3" and p["dt"] == 1.0
    assert "not_a_fit_key" not in p and "baselines" not in p and p["latent_dim"] == 64
    user = plan.user_video_params(DCF, "mine")
    assert user["latent_dim"] == 8 and user["nested_dropout"]["p"] == 0.02 and user["variant"] == "mine"
    assert DCF["ball"]["nested_dropout"] == {"ramp_steps": 0, "p_start": 1.0}  # the config is not modified


def test_neural_jobs_carry_their_scoring_slice():
    dcf = {**DCF, "neural": {**DCF["neural"], "data": {"smooth_ms": 40}}, "baselines": {"pca": {"n_latents": 3}},
           "report": {"n_latents": 3, "ridge_alpha": 0.1, "dcf_readout": "flowed_latents", "nlb": {"glm_l2": 1.0}, "caption_note": "x"}}
    fit, base = plan.neural_params(dcf), plan.neural_baseline_params(dcf)
    for p in (fit, base):
        assert p["report"] == {"n_latents": 3, "ridge_alpha": 0.1, "dcf_readout": "flowed_latents", "nlb": {"glm_l2": 1.0}}
        assert p["data"] == {"smooth_ms": 40}
    assert fit["latent_dim"] == 137 and base["pca"] == {"n_latents": 3}


def test_runs_and_figure_inputs():
    assert plan.ball_runs(DCF) == ["results/runs/dcf/ball_p50", "results/runs/dcf/ball_p3"]
    assert plan.seed_runs(DCF)[0] == "results/runs/dcf/neural_dcf_seed0"
    assert plan.baseline_seed_runs(DCF) == ["results/runs/dcf/neural_vae_seed1", "results/runs/dcf/neural_vae_seed2"]
    inputs = plan.figure_inputs(DCF, lambda s: f"stores/{s}.zarr")
    assert set(inputs) == set(plan.FIGURES)
    assert inputs["stability"]["baselines"] == ["results/runs/dcf/neural_vae", *plan.baseline_seed_runs(DCF)]
    assert inputs["neural-latents"]["sessions"] == ["stores/maze.zarr"] and inputs["ball-comparison"]["runs"] == ["results/runs/dcf/ball_p50"]
    assert plan.figure_buildable("ball", inputs, ball_ok=True, neural_ok=False)
    assert not plan.figure_buildable("keff", inputs, ball_ok=True, neural_ok=False)
    assert not plan.figure_buildable("keff", inputs, ball_ok=False, neural_ok=True)
    assert plan.figure_buildable("stability", inputs, ball_ok=False, neural_ok=True)


def test_seeds_derive_from_config_seed():
    assert plan.job_seed(0, "neural", 1) != plan.job_seed(3, "neural", 1)
    assert plan.job_seed(0, "neural", "vae", 0) != plan.job_seed(0, "neural", 0)


# the run folders the DCF rules write (workflow/rules/dcf.smk)
MADE = [re.compile(p) for p in (r"results/runs/dcf/ball_baseline_(?P<m>\w+)$", r"results/runs/dcf/ball_(?P<v>\w+)$",
                                r"results/runs/dcf/neural_dcf_seed(?P<s>\d+)$", r"results/runs/dcf/neural_(?P<m>[a-z]+)$",
                                r"results/runs/dcf/neural_(?P<m>[a-z]+)_seed(?P<s>\d+)$")]


@pytest.mark.parametrize("configs", [["config.yaml"], ["config.yaml", "config/demo.yaml"]], ids=["full", "demo"])
def test_every_run_a_figure_reads_is_configured(configs):
    dcf = ndc.load(*(REPO / c for c in configs))["dcf"]
    inputs = plan.figure_inputs(dcf, lambda s: f"results/sessions/{s}.zarr")
    for which, part in inputs.items():
        for run in part["runs"] + part["baselines"]:
            m = next((p.match(run) for p in MADE if p.match(run)), None)  # the first pattern that fits
            assert m, (which, run)
            groups = m.groupdict()
            if "v" in groups:
                assert groups["v"] in dcf["ball"]["variants"], run
            if "s" in groups:
                assert int(groups["s"]) in dcf["neural"]["seeds"], run
            if groups.get("m") and "ball_baseline" in run:
                assert groups["m"] in dcf["ball"]["baselines"], run
            elif groups.get("m"):
                assert groups["m"] in dcf["neural"]["baselines"] + dcf["neural"]["stability_baselines"], run
