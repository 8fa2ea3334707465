# Helpers shared across the workflow (paths, config slices passed to the CLI, what is available offline).
import json
import shlex
from pathlib import Path

from neurodyn.data.sources import SessionSources

ENV = "../../envs/neurodyn.yaml"
RAW_DIR = config["dandi"]["raw_dir"]
SOURCES = SessionSources(config)
MIRROR_ARG = f"--mirror {shlex.quote(config['mirror'])}" if config["mirror"] else ""
OFFLINE_ARG = "--offline" if config["offline"] else ""
# Scorecard fragments (results/scorecard/<paper>.json): each paper's rule file appends the ones it produces;
# rule `scorecard` (report.smk) joins them with src/neurodyn/report/published/*.yaml.
SCORECARD_FRAGMENTS = []


def as_arg(value):
    """A config slice as one shell-quoted JSON argument (params: a change re-runs only the jobs using it)."""
    return shlex.quote(json.dumps(value, sort_keys=True, separators=(",", ":")))


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
