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


# === DCF === (the plan itself: neurodyn.dcf.plan, unit-tested; these bind it to this config)
from neurodyn.dcf import plan as _dcfp

DCF = config["dcf"]
DCF_BALL_OK = SOURCES.unavailable_reason(DCF["ball"]["session"]) is None
DCF_NEURAL_SESSIONS = [s for s in DCF["neural"]["sessions"] if s in available_sessions(DCF["neural"]["sessions"])]
DCF_NEURAL_OK = len(DCF_NEURAL_SESSIONS) == len(DCF["neural"]["sessions"])
DCF_USER_VIDEOS = [name for name, spec in DCF["user_video"].items() if spec["frames"]]


def dcf_ball_params(variant):
    return as_arg(_dcfp.ball_params(DCF, variant))


def dcf_user_params(name):
    return as_arg(_dcfp.user_video_params(DCF, name))


def dcf_seed(*labels):
    return _dcfp.job_seed(config["seed"], *labels)


DCF_BALL_RUNS = _dcfp.ball_runs(DCF)
DCF_BALL_BASELINES = _dcfp.ball_baselines(DCF)
DCF_SEED_RUNS = _dcfp.seed_runs(DCF)
DCF_NEURAL_BASELINES = _dcfp.neural_baselines(DCF)
DCF_BASELINE_SEED_RUNS = _dcfp.baseline_seed_runs(DCF)
DCF_FIGURE_INPUTS = _dcfp.figure_inputs(DCF, session_store)
DCF_FIGURE_PARAMS = as_arg({**DCF["figures"], "caption_note": DCF["report"]["caption_note"], "ball_note": DCF["report"]["ball_note"], "data": DCF["neural"]["data"], "n_latents": DCF["report"]["n_latents"]})


def dcf_figure_ok(which):
    return _dcfp.figure_buildable(which, DCF_FIGURE_INPUTS, ball_ok=DCF_BALL_OK, neural_ok=DCF_NEURAL_OK)


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
