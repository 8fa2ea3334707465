"""Run record: the one folder every train / align / transfer job leaves behind (DESIGN.md contract 2).

``<out>/metrics.json`` (flat keys, units in the names), ``config.json`` (the config slice it ran with),
``run.json`` (seed, wall time, device, versions, command) and ``*.pt`` checkpoints that load on CPU with
``torch.load(..., weights_only=True)``. The job works in ``<out>.partial/`` and renames it to ``<out>`` at the
end, so a killed job leaves no folder that looks finished — and its resume state stays in ``.partial`` for the
next attempt (Snakemake deletes declared outputs before a rerun, not their ``.partial`` siblings).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neurodyn.errors import InputError
from neurodyn.utils.atomic import remove, write_text


def config_hash(config: Mapping[str, Any], seed: int) -> str:
    return hashlib.sha256(json.dumps({"config": config, "seed": seed}, sort_keys=True).encode()).hexdigest()[:16]


class RunRecord:
    """Create with the output folder, the config slice and the seed; ``finish(metrics)`` publishes it."""

    def __init__(self, out: str | os.PathLike, config: Mapping[str, Any], seed: int, *, device: str = "cpu"):
        self.out = Path(out)
        self.partial = self.out.with_name(self.out.name + ".partial")
        self.config, self.seed, self.device = dict(config), int(seed), device
        self.t0 = time.time()
        tag = config_hash(self.config, self.seed)
        marker = self.partial / "config-hash"
        if self.partial.exists() and (not marker.exists() or marker.read_text() != tag):
            remove(self.partial)  # resume state of another config: never mix it in
        self.partial.mkdir(parents=True, exist_ok=True)
        marker.write_text(tag)

    @property
    def resume_path(self) -> Path:
        return self.partial / "resume-state.pt"

    def path(self, name: str) -> Path:
        """Where to write an artefact (inside the partial folder until ``finish``)."""
        return self.partial / name

    def save_torch(self, name: str, obj: Any) -> Path:
        import torch

        target = self.path(name)
        tmp = target.with_name(target.name + ".tmp")
        torch.save(_to_cpu(obj), tmp)
        os.replace(tmp, target)
        return target

    def finish(self, metrics: Mapping[str, Any], **info: Any) -> Path:
        clean = {k: _finite(v) for k, v in metrics.items()}
        (self.partial / "metrics.json").write_text(json.dumps(clean, indent=2, sort_keys=True))
        (self.partial / "config.json").write_text(json.dumps(self.config, indent=2, sort_keys=True))
        import numpy

        run = {
            "seed": self.seed,
            "device": self.device,
            "wall_time_s": round(time.time() - self.t0, 3),
            "python": platform.python_version(),
            "numpy": numpy.__version__,
            "command": sys.argv,
            "host": platform.node(),
            "scheduler": scheduler_environment(),
            **info,
        }
        try:
            import torch

            run["torch"] = torch.__version__
        except ImportError:
            pass
        (self.partial / "run.json").write_text(json.dumps(run, indent=2, sort_keys=True, default=str))
        for leftover in ("resume-state.pt", "config-hash"):
            if (self.partial / leftover).exists():
                (self.partial / leftover).unlink()
        if self.out.exists():
            remove(self.out)
        os.replace(self.partial, self.out)
        return self.out


# What a scheduler granted the job (SLURM sets these in every job; CUDA_VISIBLE_DEVICES also on a workstation).
SCHEDULER_VARIABLES = (
    "SLURM_JOB_ID",
    "SLURM_JOB_PARTITION",
    "SLURM_CPUS_PER_TASK",
    "SLURM_MEM_PER_NODE",
    "SLURM_JOB_GPUS",
    "SLURM_STEP_GPUS",
    "CUDA_VISIBLE_DEVICES",
)


def scheduler_environment() -> dict[str, str]:
    """The job's scheduler allocation as seen from inside it (empty outside a scheduler), kept in run.json."""
    return {name: os.environ[name] for name in SCHEDULER_VARIABLES if name in os.environ}


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; None is read back as "not available"
    return value


def _to_cpu(obj: Any) -> Any:
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, Mapping):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def read_metrics(run_dir: str | os.PathLike) -> dict[str, Any]:
    path = Path(run_dir) / "metrics.json"
    if not path.exists():
        raise InputError(path, "", "metrics.json of a finished run record")
    return json.loads(path.read_text())


def read_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    return json.loads((Path(run_dir) / "config.json").read_text())


def write_json(path: str | os.PathLike, payload: Any) -> None:
    write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=str))
