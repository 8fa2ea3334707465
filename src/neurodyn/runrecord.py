"""Run record: the one folder every train / align / transfer job leaves behind (docs/contracts.md §2).

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
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from neurodyn.errors import InputError
from neurodyn.utils.atomic import WRITER, _swap_in, check_replaceable, mark, remove, write_text


def config_hash(config: Mapping[str, Any], seed: int, inputs: Mapping[str, str] | None = None) -> str:
    """The resume key: config slice, seed and the fingerprints of what the run reads (see ``fingerprint``)."""
    key = {"config": config, "seed": seed, **({"inputs": dict(inputs)} if inputs else {})}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def fingerprint(path: str | os.PathLike) -> str:
    """What identifies an input's content, cheaply.

    A session store: its ``attrs.fingerprint`` (the digest of the raw file the converter read and the convert
    spec; stores from before it: the digest of its attributes, which hold both). A run record: the digest of its
    run.json, config.json and metrics.json. A file: its sha256.
    """
    path = Path(path)
    digest = hashlib.sha256()
    if (path / ".zattrs").is_file():
        attrs = json.loads((path / ".zattrs").read_text())
        if attrs.get("fingerprint"):
            return str(attrs["fingerprint"])
        digest.update((path / ".zattrs").read_bytes())
    elif path.is_dir():
        for name in ("run.json", "config.json", "metrics.json"):
            if (path / name).is_file():
                digest.update((path / name).read_bytes())
    elif path.is_file():
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    else:
        raise InputError(path, "", "an input of the run (no such file or store)")
    return digest.hexdigest()


class RunRecord:
    """Create with the output folder, the config slice, the seed and the inputs; ``finish(metrics)`` publishes it.

    ``inputs`` (session stores, a pretrained run record, a frames file) are fingerprinted: resume state is kept
    only for the same config, seed and input content, so a store re-converted since the checkpoint starts the
    training afresh. ``out`` must be free or a run record neurodyn wrote, and not one of the inputs.
    """

    def __init__(self, out: str | os.PathLike, config: Mapping[str, Any], seed: int, *, device: str = "cpu",
                 inputs: Iterable[str | os.PathLike] = ()):
        self.out = Path(out)
        self.partial = self.out.with_name(self.out.name + ".partial")
        self.config, self.seed, self.device = dict(config), int(seed), device
        self.inputs = [str(p) for p in inputs]
        self.resumed_from: int | None = None  # set by the training loop when it continues a resume state
        self.t0 = time.time()
        check_replaceable(self.out, self.inputs, what="run record")
        self.fingerprints = {p: fingerprint(p) for p in self.inputs}
        tag = config_hash(self.config, self.seed, self.fingerprints)
        marker = self.partial / "config-hash"
        if self.partial.exists():
            if not marker.is_file():
                check_replaceable(self.partial, what="run record's working folder")
            if not marker.is_file() or marker.read_text() != tag:
                remove(self.partial)  # resume state of another config or other inputs: never mix it in
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
            "written_by": WRITER,
            "seed": self.seed,
            "device": self.device,
            "inputs": self.fingerprints,
            "wall_time_s": round(time.time() - self.t0, 3),
            "python": platform.python_version(),
            "numpy": numpy.__version__,
            "command": sys.argv,
            "host": platform.node(),
            "scheduler": scheduler_environment(),
            **info,
        }
        if self.resumed_from is not None:
            run["resumed_from"] = self.resumed_from
        try:
            import torch

            run["torch"] = torch.__version__
        except ImportError:
            pass
        (self.partial / "run.json").write_text(json.dumps(run, indent=2, sort_keys=True, default=str))
        for leftover in ("resume-state.pt", "config-hash"):
            if (self.partial / leftover).exists():
                (self.partial / leftover).unlink()
        mark(self.partial)
        check_replaceable(self.out, self.inputs, what="run record")
        _swap_in(self.partial, self.out)
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
