"""Resumable training: a job stopped by SIGTERM / SIGUSR1 (what SLURM sends before a time limit) or killed
outright continues from its checkpoint and ends with exactly the parameters and metrics of an uninterrupted
run with the same seed (CPU). The job is tests/unit/_resume_job.py, run as a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from neurodyn.runrecord import RunRecord
from neurodyn.loop import EXIT_PREEMPTED

JOB = Path(__file__).with_name("_resume_job.py")
SRC = Path(__file__).resolve().parents[2] / "src"
STEPS, EVERY, PAUSE = 300, 50, 130  # checkpoints at 50, 100, ...; the signal arrives during step 130


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    return env


def _start(out: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, str(JOB), "--out", str(out), "--steps", str(STEPS), "--checkpoint-every", str(EVERY), *extra]
    return subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run(out: Path) -> dict:
    proc = _start(out)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    return json.loads(stdout.strip().splitlines()[-1])


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"job ended (rc {proc.returncode}) before {path.name}: {proc.stderr.read()}")
        assert time.monotonic() < deadline, f"{path.name} did not appear"
        time.sleep(0.02)


def _interrupt(out: Path, how: int) -> int:
    """Start the job, stop it with signal ``how`` during step PAUSE, return its exit status."""
    proc = _start(out, "--pause-at", str(PAUSE))
    try:
        _wait_for(out.with_name(out.name + ".paused"), proc)
        record = out.with_name(out.name + ".partial")
        assert (record / "resume-state.pt").exists(), "no periodic checkpoint before the pause"
        proc.send_signal(how)
        out.with_name(out.name + ".go").write_text("")
        _, stderr = proc.communicate(timeout=120)
        if proc.returncode == EXIT_PREEMPTED:  # the job's log says why it stopped and that it can resume
            name = signal.Signals(how).name
            assert f"resume-test: {name} at step {PAUSE + 1} of {STEPS}: resume state saved" in stderr, stderr
            assert f"exiting with status {EXIT_PREEMPTED}" in stderr, stderr
        return proc.returncode
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _final(out: Path) -> tuple[dict, dict]:
    return torch.load(out / "model.pt", weights_only=True), json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def reference_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "run"
    assert _run(out)["resumed_from"] == 0
    return out


@pytest.fixture(scope="module")
def reference(reference_dir) -> tuple[dict, dict]:
    return _final(reference_dir)


def _assert_same(out: Path, reference) -> None:
    params, metrics = _final(out)
    ref_params, ref_metrics = reference
    assert params.keys() == ref_params.keys()
    for name in params:
        assert torch.equal(params[name], ref_params[name]), f"parameter {name} differs after resume"
    assert metrics == ref_metrics
    assert metrics["test_mse"] < 0.05, "the job did not learn the linear map (the test would prove nothing)"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1], ids=["SIGTERM", "SIGUSR1"])
def test_signal_saves_exits_75_and_resumes_exactly(tmp_path, reference, sig):
    out = tmp_path / "run"
    assert _interrupt(out, sig) == EXIT_PREEMPTED
    assert not out.exists(), "a stopped job must not leave a folder that looks finished"
    state = torch.load(out.with_name("run.partial") / "resume-state.pt", weights_only=True)
    assert state["step"] == PAUSE + 1, "the state is saved at the step boundary after the signal"
    assert _run(out)["resumed_from"] == PAUSE + 1
    _assert_same(out, reference)
    assert json.loads((out / "run.json").read_text())["resumed_from"] == PAUSE + 1
    assert not out.with_name("run.partial").exists()


def test_hard_kill_resumes_from_last_periodic_checkpoint(tmp_path, reference):
    out = tmp_path / "run"
    assert _interrupt(out, signal.SIGKILL) == -signal.SIGKILL
    assert _run(out)["resumed_from"] == (PAUSE // EVERY) * EVERY
    _assert_same(out, reference)


def test_checkpoints_load_on_cpu_with_weights_only(reference_dir):
    out = reference_dir
    assert list(out.glob("*.pt"))
    for checkpoint in out.glob("*.pt"):
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        assert all(t.device.type == "cpu" for t in state.values())
    assert not (out / "resume-state.pt").exists(), "finish() removes the resume state"


def test_resume_state_of_another_config_is_discarded(tmp_path):
    out = tmp_path / "run"
    first = RunRecord(out, {"lr": 0.1}, seed=1)
    first.save_torch(first.resume_path.name, {"step": 5})
    assert RunRecord(out, {"lr": 0.1}, seed=1).resume_path.exists()
    assert not RunRecord(out, {"lr": 0.2}, seed=1).resume_path.exists()
