# Helpers shared across the workflow (paths, config slices passed to the CLI, what is available offline).
import json
import os
from pathlib import Path

from neurodyn.rehearsal import ENV_MAX_STEPS

# A rehearsal (config rehearsal.max_steps; scripts/rehearse.sh) caps every optimisation loop and marks every
# figure, table and scorecard row: the cap reaches each job through its environment (set here, at planning).
if (config.get("rehearsal") or {}).get("max_steps"):
    os.environ[ENV_MAX_STEPS] = str(config["rehearsal"]["max_steps"])
else:
    os.environ.pop(ENV_MAX_STEPS, None)

ENV = "../../envs/neurodyn.yaml"
RAW_DIR = config["dandi"]["raw_dir"]
# SOURCES (neurodyn.data.sources.SessionSources) is made in the Snakefile, where a bad lock file stops the run
# Scorecard fragments (results/scorecard/<paper>.json): each paper's rule file appends the ones it produces;
# rule `scorecard` (report.smk) joins them with src/neurodyn/report/published/*.yaml.
SCORECARD_FRAGMENTS = []


def as_arg(value):
    """A config slice as one JSON text (params: a change re-runs only the jobs using it).

    Shell lines quote it as every other value, ``{params.x:q}``: nothing from config reaches the shell unquoted.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def optional_arg(name, values):
    """``[name, *values]`` when there are values, else nothing: an optional list argument, quoted by ``:q``."""
    values = [values] if isinstance(values, str) else list(values)
    return [name, *values] if values else []


MIRROR_ARG = optional_arg("--mirror", [config["mirror"]] if config["mirror"] else [])
OFFLINE_ARG = ["--offline"] if config["offline"] else []


def session_store(name):
    return f"results/sessions/{name}.zarr"


def available_sessions(names):
    """The sessions that can be built here (offline: mirror files and simulations only), with a note for the rest."""
    keep = []
    for name in names:
        reason = SOURCES.unavailable_reason(name)
        if reason:
            print(f"neurodyn: skipping session {name}: {reason}", file=sys.stderr)
        else:
            keep.append(name)
    return keep


# === DCF === paths and config slices of the DCF rules (train.smk, figures.smk, report.smk)
DCF = config["dcf"]
DCF_FIT_KEYS = ("latent_dim", "history", "encoder", "flows", "nested_dropout", "train", "n_simulated", "rmae_ks")
DCF_BALL_OK = SOURCES.unavailable_reason(DCF["ball"]["session"]) is None
DCF_NEURAL_SESSIONS = [s for s in DCF["neural"]["sessions"] if s in available_sessions(DCF["neural"]["sessions"])]
DCF_NEURAL_OK = len(DCF_NEURAL_SESSIONS) == len(DCF["neural"]["sessions"])
DCF_USER_VIDEOS = [name for name, spec in DCF["user_video"].items() if spec["frames"]]


def dcf_fit_params(experiment, **extra):
    """The DCF model slice merged with one experiment's sizes (and extras such as the variant's p)."""
    params = dict(DCF["model"])
    params.update({k: experiment[k] for k in DCF_FIT_KEYS if k in experiment})
    params.update(extra)
    return as_arg(params)


def dcf_ball_params(variant):
    ball = DCF["ball"]
    nd = dict(ball["nested_dropout"], p=ball["variants"][variant])
    return dcf_fit_params({**ball, "nested_dropout": nd}, variant=variant)


def dcf_user_params(name):
    ball, spec = DCF["ball"], DCF["user_video"][name]
    nd = dict(ball["nested_dropout"], p=ball["variants"][ball["reference_variant"]])
    return dcf_fit_params({**ball, "nested_dropout": nd, "latent_dim": spec["latent_dim"]}, variant=name)


DCF_BALL_RUNS = expand("results/runs/dcf/ball_{v}", v=list(DCF["ball"]["variants"]))
DCF_BALL_BASELINES = expand("results/runs/dcf/ball_baseline_{m}", m=DCF["ball"]["baselines"])
DCF_SEED_RUNS = expand("results/runs/dcf/neural_dcf_seed{s}", s=DCF["neural"]["seeds"])
DCF_NEURAL_BASELINES = expand("results/runs/dcf/neural_{m}", m=DCF["neural"]["baselines"])
DCF_NEURAL_STORES = [session_store(s) for s in DCF["neural"]["sessions"]]
# comparison models refit with every further seed for the stability table (seed 0 is the tabulated run)
DCF_BASELINE_SEED_RUNS = [f"results/runs/dcf/neural_{m}_seed{s}" for m in DCF["neural"]["stability_baselines"] for s in DCF["neural"]["seeds"][1:]]
DCF_FIGURE_INPUTS = {
    "ball": {"runs": DCF_BALL_RUNS, "baselines": [], "sessions": []},
    "rmae": {"runs": DCF_BALL_RUNS, "baselines": [], "sessions": []},
    "ball-comparison": {"runs": DCF_BALL_RUNS[:1], "baselines": DCF_BALL_BASELINES, "sessions": []},
    "keff": {"runs": DCF_BALL_RUNS + DCF_SEED_RUNS[:1], "baselines": [], "sessions": []},
    "neural-latents": {"runs": DCF_SEED_RUNS[:1], "baselines": DCF_NEURAL_BASELINES, "sessions": DCF_NEURAL_STORES},
    "stability": {"runs": DCF_SEED_RUNS, "baselines": [f"results/runs/dcf/neural_{m}" for m in DCF["neural"]["stability_baselines"]] + DCF_BASELINE_SEED_RUNS, "sessions": DCF_NEURAL_STORES},
}
DCF_FIGURE_PARAMS = as_arg({**DCF["figures"], "caption_note": DCF["report"]["caption_note"], "ball_note": DCF["report"]["ball_note"], "data": DCF["neural"]["data"], "n_latents": DCF["report"]["n_latents"], "ridge_alpha": DCF["report"]["ridge_alpha"]})


def dcf_figure_ok(which):
    needs_neural = bool(DCF_FIGURE_INPUTS[which]["sessions"]) or which == "keff"
    return DCF_BALL_OK if not needs_neural else (DCF_NEURAL_OK and (DCF_BALL_OK or which != "keff"))


# --- Resources of training jobs -----------------------------------------------------------------------------
# Every rule that trains a torch model (train, align, transfer) declares
#     resources: **train_resources(mem_mb=4000, runtime=600)   # its own sizes win; the rest from config
# (and `threads: train_threads()` unless it sets its own), so one config section (resources.train in
# config.yaml; config/demo.yaml for the demo) decides whether training jobs ask for a GPU and on which
# partition, and sizes those that name nothing. Under the
# SLURM executor these become --cpus-per-task, --mem, --time, --gpus and --partition; a profile's
# set-resources still overrides them per rule. Locally, `gpu` counts against `--resources gpu=N` (unlimited
# when N is not given); which device a job uses is decided at run time by neurodyn.utils.device.pick_device.
def train_threads():
    return config["resources"]["train"]["threads"]


def train_resources(**overrides):
    spec = {k: v for k, v in config["resources"]["train"].items() if k != "threads"}
    spec.update(overrides)
    if not spec.get("slurm_partition"):
        spec.pop("slurm_partition", None)  # unset: the profile's default-resources or the cluster's default
    return spec
