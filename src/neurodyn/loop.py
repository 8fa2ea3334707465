"""The one training loop every model uses: seeded, checkpointed, resumable, quiet in batch logs.

``fit`` calls ``step_fn(step, gen)`` for ``n_steps`` steps; ``step_fn`` returns a dict whose ``"loss"`` is
back-propagated. Batches must be drawn with ``gen`` (a CPU ``torch.Generator``) so that the data order is part
of the saved state. Every ``checkpoint_every`` steps, and when SIGTERM or SIGUSR1 arrives (what SLURM sends
before a time limit), the modules, optimiser, scheduler, generator and global RNG states (torch, CUDA, NumPy,
Python) go to the run record's resume file; a restarted job continues from there and ends with the same
parameters as an uninterrupted run (bit for bit on the same device). A signal stops the job at the next step
boundary: the state is saved and the process exits with status 75 (``EXIT_PREEMPTED``), which Snakemake treats
as a failure and resubmits when ``retries`` allow (profiles/slurm). The state is saved once more when the loop
ends, so a job killed during its evaluation does not train again. The resume file loads on CPU with
``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import random
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from neurodyn.runrecord import RunRecord
from neurodyn.utils.progress import Progress

EXIT_PREEMPTED = 75  # EX_TEMPFAIL: the job stopped early on purpose and can be resumed


class Preempted(SystemExit):
    """Raised after the resume state is saved on SIGTERM/SIGUSR1; exits with status 75."""

    def __init__(self, step: int):
        super().__init__(EXIT_PREEMPTED)
        self.step = step


@dataclass
class FitResult:
    steps: int
    resumed_from: int
    history: list[dict[str, float]] = field(default_factory=list)

    def last(self, key: str = "loss", window: int = 10) -> float:
        values = [h[key] for h in self.history[-window:] if key in h]
        return float(sum(values) / len(values)) if values else float("nan")


def fit(
    *,
    modules: Mapping[str, torch.nn.Module],
    optimizer: torch.optim.Optimizer,
    step_fn: Callable[[int, torch.Generator], Mapping[str, torch.Tensor]],
    n_steps: int,
    record: RunRecord | None,
    seed: int,
    label: str,
    checkpoint_every: int = 200,
    clip_grad: float | None = None,
    scheduler=None,
    log_every: int = 1,
) -> FitResult:
    from neurodyn import rehearsal

    n_steps = rehearsal.cap_steps(n_steps)  # a rehearsal (config rehearsal.max_steps) stops every loop early
    gen = torch.Generator().manual_seed(seed)
    history: list[dict[str, float]] = []
    start = 0
    if record is not None and record.resume_path.exists():
        state = torch.load(record.resume_path, map_location="cpu", weights_only=True)
        if sorted(state["modules"]) != sorted(modules):
            raise RuntimeError(
                f"{label}: resume file {record.resume_path} holds modules {sorted(state['modules'])}, "
                f"this run trains {sorted(modules)}; delete it to start over"
            )
        for name, module in modules.items():
            module.load_state_dict(state["modules"][name])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if torch.cuda.is_available() and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        _set_host_rng(state["host_rng"])
        start, history = int(state["step"]), list(state["history"])
        if start > 0 and record.resumed_from is None:
            record.resumed_from = start  # run.json says so (the first fit of a job that resumed)
        print(f"{label}: resumed from step {start} of {n_steps} ({record.resume_path})", file=sys.stderr)

    def save(step: int) -> None:
        if record is None:
            return
        record.save_torch(
            record.resume_path.name,
            {
                "step": step,
                "modules": {n: m.state_dict() for n, m in modules.items()},
                "optimizer": optimizer.state_dict(),
                "scheduler": None if scheduler is None else scheduler.state_dict(),
                "generator": gen.get_state(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "host_rng": _get_host_rng(),
                "history": history,
            },
        )

    stop_requested: list[int] = []

    def on_signal(signum, _frame):
        stop_requested.append(signum)

    # signal handlers can only be installed from the main thread; elsewhere rely on periodic checkpoints
    in_main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGUSR1)} if in_main else {}
    params = [p for m in modules.values() for p in m.parameters()]
    progress = Progress(n_steps, label, start=start)
    for module in modules.values():
        module.train()
    try:
        for step in range(start, n_steps):
            if stop_requested:
                save(step)
                name = signal.Signals(stop_requested[0]).name
                print(f"{label}: {name} at step {step} of {n_steps}: resume state saved to {record.resume_path if record else '(no run record)'}; "
                      f"exiting with status {EXIT_PREEMPTED} so the job can be resubmitted and resume", file=sys.stderr)
                raise Preempted(step)
            optimizer.zero_grad(set_to_none=True)
            out = step_fn(step, gen)
            loss = out["loss"]
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{label}: loss became {loss.item()} at step {step}")
            loss.backward()
            if clip_grad:
                torch.nn.utils.clip_grad_norm_(params, clip_grad)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            if step % log_every == 0 or step == n_steps - 1:
                values = {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in out.items()}
                history.append({"step": step, **values})
                progress.update(step + 1, **{k: values[k] for k in list(values)[:3]})
            if checkpoint_every and (step + 1) % checkpoint_every == 0 and step + 1 < n_steps:
                save(step + 1)
        if start < n_steps:
            save(n_steps)  # a kill during evaluation then resumes after training, not before it
    finally:
        progress.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    for module in modules.values():
        module.eval()
    return FitResult(steps=n_steps, resumed_from=start, history=history)


def _get_host_rng() -> dict:
    """Python's and NumPy's global RNG states as tensors and plain values (loadable with weights_only=True)."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    return {
        "python": [version, torch.tensor(internal, dtype=torch.int64), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
    }


def _set_host_rng(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(int(v) for v in internal.tolist()), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
