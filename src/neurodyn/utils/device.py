"""Pick the compute device at run time and record it.

``auto`` means CUDA when present, else CPU; ``cpu``, ``cuda`` and ``cuda:N`` are taken as given.

Several GPUs, several concurrent jobs: Snakemake counts the ``gpu`` resource (``--resources gpu=N`` runs at
most N training jobs at once) but never tells a job *which* GPU to use. So each job claims one: it takes an
exclusive, non-blocking ``flock`` on one lock file per visible device and uses the first device whose lock it
gets. The lock is held until the process exits — also when it is killed, since the kernel drops it — so the
next job gets that device again. Lock files live in ``$NEURODYN_GPU_LOCK_DIR`` (default: a per-user folder
in the system temp dir) and are named after ``CUDA_VISIBLE_DEVICES``, so jobs that see different device sets
(e.g. each SLURM job sees only its own GPUs) never compete, while jobs sharing one allocation (a workstation,
or Snakemake run inside ``salloc``) do. With more jobs than devices, the extra ones share device 0 (slower,
but never an error) — pass ``--resources gpu=<number of GPUs>`` to avoid that.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_held_locks: list[int] = []  # file descriptors whose flock marks our device; closed by the OS at exit


def lock_dir() -> Path:
    default = Path(tempfile.gettempdir()) / f"neurodyn-gpu-locks-{os.getuid()}"
    return Path(os.environ.get("NEURODYN_GPU_LOCK_DIR") or default)


def claim_gpu(n_gpus: int) -> int:
    """Index (among the visible devices) of a GPU no other neurodyn process on this machine holds; 0 if all are taken."""
    import fcntl

    if n_gpus <= 1:
        return 0
    folder = lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    tag = os.environ.get("CUDA_VISIBLE_DEVICES", "").replace(",", "_") or "all"
    for index in range(n_gpus):
        try:
            fd = os.open(folder / f"gpu-{tag}-{index}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            continue  # unreadable lock file (another user's): treat the device as taken
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        _held_locks.append(fd)
        return index
    return 0


def pick_device(preference: str = "auto"):
    """Return a ``torch.device`` for ``preference`` in {"auto", "cpu", "cuda", "cuda:N"}."""
    import torch

    if preference == "cpu":
        return torch.device("cpu")
    if preference.startswith("cuda:"):
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device(f"cuda:{claim_gpu(torch.cuda.device_count())}")
    if preference == "cuda":
        raise RuntimeError("config asks for device 'cuda' but torch sees no CUDA device")
    return torch.device("cpu")


def describe(device) -> str:
    import torch

    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return "cpu"
