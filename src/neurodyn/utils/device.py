"""Pick the compute device at run time and record it.

``auto`` means CUDA when present, else CPU. On a machine with several GPUs, concurrent Snakemake jobs each
claim a distinct GPU through an exclusive lock file per device (``$NEURODYN_GPU_LOCK_DIR``, default the system
temp dir): Snakemake schedules by the ``gpu`` resource count but does not hand out device ids. Under SLURM,
``CUDA_VISIBLE_DEVICES`` is already restricted to the job's GPUs, so the first visible free one is taken.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import tempfile
from pathlib import Path

_held_locks: list = []


def _claim_gpu(n_gpus: int) -> int:
    lock_dir = Path(os.environ.get("NEURODYN_GPU_LOCK_DIR", tempfile.gettempdir()))
    lock_dir.mkdir(parents=True, exist_ok=True)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    tag = visible.replace(",", "_") or "all"
    for index in range(n_gpus):
        handle = open(lock_dir / f"neurodyn-gpu-{tag}-{index}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _held_locks.append(handle)  # held until the process exits
        atexit.register(handle.close)
        return index
    return 0  # all busy (more jobs than GPUs): share device 0 rather than fail


def pick_device(preference: str = "auto"):
    """Return a ``torch.device`` for ``preference`` in {"auto", "cpu", "cuda", "cuda:N"}."""
    import torch

    if preference == "cpu":
        return torch.device("cpu")
    if preference.startswith("cuda:"):
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device(f"cuda:{_claim_gpu(torch.cuda.device_count())}")
    if preference == "cuda":
        raise RuntimeError("config asks for device 'cuda' but torch sees no CUDA device")
    return torch.device("cpu")


def describe(device) -> str:
    import torch

    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return "cpu"
