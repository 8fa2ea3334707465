"""DCF's experiment plan as pure functions of the config's ``dcf`` block: the parameters of every fit, the run
folders (``results/runs/dcf/...``), each figure's inputs, and every seed. ``workflow/rules/common.smk`` binds
these to the config; nothing else decides them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from neurodyn.utils.seed import derive_seed

Dcf = Mapping[str, Any]
RUNS = "results/runs/dcf"
# the keys of an experiment block (ball / neural / a user video) that size one DCF fit
FIT_KEYS = ("latent_dim", "history", "encoder", "flows", "nested_dropout", "train", "n_simulated", "rmae_ks")
FIGURES = ("ball", "rmae", "ball-comparison", "keff", "neural-latents", "stability")
# the dcf.report fields a neural job scores its own model with (Tables 1-2, NLB metrics: inside the job)
SCORE_KEYS = ("n_latents", "ridge_alpha", "dcf_readout", "nlb")


def job_seed(base_seed: int, *labels: object) -> int:
    """A DCF job's seed from config ``seed`` (e.g. ``job_seed(0, "neural", "vae", 3)``)."""
    return derive_seed(base_seed, "dcf", *labels)


def fit_params(dcf: Dcf, experiment: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """The shared model block merged with one experiment's sizes (and extras such as the variant's name)."""
    params = dict(dcf["model"])
    params.update({k: experiment[k] for k in FIT_KEYS if k in experiment})
    params.update(extra)
    return params


def score_params(dcf: Dcf) -> dict[str, Any]:
    """The ``report`` slice a neural DCF or comparison-model job scores its model with."""
    return {k: dcf["report"][k] for k in SCORE_KEYS}


def neural_params(dcf: Dcf) -> dict[str, Any]:
    """A neural DCF fit: the neural experiment's sizes, its data and the scoring slice."""
    return fit_params(dcf, dcf["neural"], data=dcf["neural"]["data"], report=score_params(dcf))


def neural_baseline_params(dcf: Dcf) -> dict[str, Any]:
    """A neural comparison-model fit: the data, every model's block and the scoring slice."""
    return {"data": dcf["neural"]["data"], **dcf["baselines"], "report": score_params(dcf)}


def ball_params(dcf: Dcf, variant: str) -> dict[str, Any]:
    """A rotating-ball fit: the ball's sizes with the variant's nested-dropout p."""
    ball = dcf["ball"]
    nested = dict(ball["nested_dropout"], p=ball["variants"][variant])
    return fit_params(dcf, {**ball, "nested_dropout": nested}, variant=variant)


def user_video_params(dcf: Dcf, name: str) -> dict[str, Any]:
    """A user's video: the ball's networks and the reference variant's p, at the video's latent dimension."""
    ball, spec = dcf["ball"], dcf["user_video"][name]
    nested = dict(ball["nested_dropout"], p=ball["variants"][ball["reference_variant"]])
    return fit_params(dcf, {**ball, "nested_dropout": nested, "latent_dim": spec["latent_dim"]}, variant=name)


def ball_runs(dcf: Dcf) -> list[str]:
    return [f"{RUNS}/ball_{v}" for v in dcf["ball"]["variants"]]


def ball_baselines(dcf: Dcf) -> list[str]:
    return [f"{RUNS}/ball_baseline_{m}" for m in dcf["ball"]["baselines"]]


def seed_runs(dcf: Dcf) -> list[str]:
    """DCF on neural data, one run per seed label; the first is the tabulated one."""
    return [f"{RUNS}/neural_dcf_seed{s}" for s in dcf["neural"]["seeds"]]


def neural_baselines(dcf: Dcf) -> list[str]:
    return [f"{RUNS}/neural_{m}" for m in dcf["neural"]["baselines"]]


def baseline_seed_runs(dcf: Dcf) -> list[str]:
    """Comparison models refitted with every further seed for the stability table (the first seed is the
    tabulated run ``neural_<m>``)."""
    return [f"{RUNS}/neural_{m}_seed{s}" for m in dcf["neural"]["stability_baselines"] for s in dcf["neural"]["seeds"][1:]]


def figure_inputs(dcf: Dcf, store_of: Callable[[str], str]) -> dict[str, dict[str, list[str]]]:
    """{figure: {runs, baselines, sessions}}: what each DCF figure reads."""
    balls, seeds = ball_runs(dcf), seed_runs(dcf)
    stores = [store_of(s) for s in dcf["neural"]["sessions"]]
    return {
        "ball": {"runs": balls, "baselines": [], "sessions": []},
        "rmae": {"runs": balls, "baselines": [], "sessions": []},
        "ball-comparison": {"runs": balls[:1], "baselines": ball_baselines(dcf), "sessions": []},
        "keff": {"runs": balls + seeds[:1], "baselines": [], "sessions": []},
        "neural-latents": {"runs": seeds[:1], "baselines": neural_baselines(dcf), "sessions": stores},
        "stability": {"runs": seeds, "baselines": [f"{RUNS}/neural_{m}" for m in dcf["neural"]["stability_baselines"]] + baseline_seed_runs(dcf),
                      "sessions": stores},
    }


def figure_buildable(which: str, inputs: Mapping[str, Mapping[str, list[str]]], *, ball_ok: bool, neural_ok: bool) -> bool:
    """Whether a figure can be made here: the ball figures need the ball, the neural ones the neural sessions,
    K_eff both."""
    needs_neural = bool(inputs[which]["sessions"]) or which == "keff"
    return ball_ok if not needs_neural else (neural_ok and (ball_ok or which != "keff"))
