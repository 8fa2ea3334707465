"""The one training loop every model uses: seeded, checkpointed, resumable, quiet in batch logs.

``fit`` calls ``step_fn(step, gen)`` for ``n_steps`` steps; ``step_fn`` returns a dict whose ``"loss"`` is
back-propagated. Batches must be drawn with ``gen`` (a CPU ``torch.Generator``) so that the data order is part
of the saved state. Every ``checkpoint_every`` steps, and when SIGTERM or SIGUSR1 arrives (what SLURM sends
before a time limit), the modules, optimiser, generator and global RNG states go to the run record's resume
file; a restarted job continues from there and ends with the same parameters as an uninterrupted run.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

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
    gen = torch.Generator().manual_seed(seed)
    history: list[dict[str, float]] = []
    start = 0
    if record is not None and record.resume_path.exists():
        state = torch.load(record.resume_path, weights_only=False)
        for name, module in modules.items():
            module.load_state_dict(state["modules"][name])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if torch.cuda.is_available() and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        start, history = state["step"], state["history"]

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
                "history": history,
            },
        )

    stop_requested: list[int] = []

    def on_signal(signum, _frame):
        stop_requested.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGUSR1)}
    params = [p for m in modules.values() for p in m.parameters()]
    progress = Progress(n_steps, label, start=start)
    for module in modules.values():
        module.train()
    try:
        for step in range(start, n_steps):
            if stop_requested:
                save(step)
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
    finally:
        progress.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    for module in modules.values():
        module.eval()
    return FitResult(steps=n_steps, resumed_from=start, history=history)
