"""Several GPUs on one machine: concurrent jobs claim distinct devices (neurodyn.utils.device).

Simulated on CPU: the child processes pretend torch sees N CUDA devices and call pick_device("auto")."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neurodyn.utils import device

SRC = Path(__file__).resolve().parents[2] / "src"
# A job as pick_device("auto") sees it on a machine with N GPUs (torch monkeypatched: no GPU here).
CHILD_TORCH = """
import sys, torch
torch.cuda.is_available = lambda: True
torch.cuda.device_count = lambda: int(sys.argv[1])
from neurodyn.utils.device import pick_device
print(pick_device("auto"), flush=True)
sys.stdin.read()   # hold the device until the test closes stdin
"""
# The same claim without importing torch (seconds faster per process on a loaded CI machine).
CHILD = """
import sys
from neurodyn.utils.device import claim_gpu
print(f"cuda:{claim_gpu(int(sys.argv[1]))}", flush=True)
sys.stdin.read()
"""


def _job(n_gpus: int, lock_dir: Path, visible: str | None = None, child: str = CHILD) -> subprocess.Popen:
    env = dict(os.environ, NEURODYN_GPU_LOCK_DIR=str(lock_dir), PYTHONPATH=str(SRC))
    env.pop("CUDA_VISIBLE_DEVICES", None)
    if visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = visible
    return subprocess.Popen(
        [sys.executable, "-c", child, str(n_gpus)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def _device_of(proc: subprocess.Popen) -> str:
    line = proc.stdout.readline().strip()
    assert line, f"child failed (rc {proc.poll()})"
    return line


def _end(*procs: subprocess.Popen) -> None:
    for proc in procs:
        proc.stdin.close()
        proc.wait(timeout=60)


def test_two_training_processes_pick_distinct_gpus(tmp_path):
    first, second = _job(2, tmp_path, child=CHILD_TORCH), _job(2, tmp_path, child=CHILD_TORCH)
    try:
        assert {_device_of(first), _device_of(second)} == {"cuda:0", "cuda:1"}
    finally:
        _end(first, second)


def test_concurrent_jobs_get_distinct_gpus(tmp_path):
    jobs = [_job(3, tmp_path) for _ in range(3)]
    try:
        assert {_device_of(p) for p in jobs} == {"cuda:0", "cuda:1", "cuda:2"}
    finally:
        _end(*jobs)


def test_device_is_released_when_the_job_ends(tmp_path):
    first, second = _job(2, tmp_path), None
    try:
        assert _device_of(first) == "cuda:0"
        second = _job(2, tmp_path)
        assert _device_of(second) == "cuda:1"
        first.kill()  # killed, not closed: the kernel drops the lock all the same
        first.wait(timeout=60)
        third = _job(2, tmp_path)
        assert _device_of(third) == "cuda:0"
        _end(third)
    finally:
        _end(*(p for p in (first, second) if p and p.poll() is None))


def test_more_jobs_than_gpus_share_device_0(tmp_path):
    jobs = [_job(2, tmp_path) for _ in range(3)]
    try:
        devices = sorted(_device_of(p) for p in jobs)
        assert devices == ["cuda:0", "cuda:0", "cuda:1"]
    finally:
        _end(*jobs)


def test_jobs_with_different_visible_devices_do_not_compete(tmp_path):
    # e.g. two SLURM jobs, each restricted to its own two GPUs: both use their first one
    first, second = _job(2, tmp_path, visible="0,1"), _job(2, tmp_path, visible="2,3")
    try:
        assert _device_of(first) == _device_of(second) == "cuda:0"
    finally:
        _end(first, second)


def test_explicit_and_cpu_choices(monkeypatch):
    import torch

    assert device.pick_device("cpu") == torch.device("cpu")
    assert device.pick_device("cuda:3") == torch.device("cuda:3")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device.pick_device("auto") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="no CUDA device"):
        device.pick_device("cuda")
    assert device.describe(torch.device("cpu")) == "cpu"
