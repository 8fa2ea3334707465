# Helpers shared by every rule file: paths, config slices passed to the CLI, and what is available offline.
import json
import shlex
from pathlib import Path

from neurodyn.data.sources import SessionSources

ENV = "../../envs/neurodyn.yaml"
RESULTS = "results"
SOURCES = SessionSources(config)


def as_arg(value):
    """A config slice as one shell-quoted JSON argument (params: a change re-runs only the jobs using it)."""
    return shlex.quote(json.dumps(value, sort_keys=True, separators=(",", ":")))


def session_store(name):
    return f"{RESULTS}/sessions/{name}.zarr"


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


# --- Resources of training jobs -----------------------------------------------------------------------------
# Every rule that trains (train, align, transfer) declares
#     threads: train_threads()
#     resources: **train_resources()              # or train_resources(mem_mb=32000) for a bigger one
# so one config section (resources.train in config.yaml; smaller in config/demo.yaml) sizes them all. Under the
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
