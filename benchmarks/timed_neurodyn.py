"""`neurodyn` with every training loop timed and capped: the launcher behind benchmarks/train.py.

    NEURODYN_BENCH_LOG=timings.jsonl NEURODYN_BENCH_STEPS=20 python benchmarks/timed_neurodyn.py train NAME ...

It runs the real command (``neurodyn.cli.main``) after wrapping ``neurodyn.loop.fit`` — the one loop every
model trains and aligns with (PREAMBLE contract) — so that no model needs benchmark code of its own:

- ``n_steps`` is capped at ``NEURODYN_BENCH_WARMUP + NEURODYN_BENCH_STEPS`` (defaults 3 + 20), so the job ends
  quickly and still writes its run record (downstream jobs of the benchmark run can use it);
- each step is timed (``torch.cuda.synchronize`` first on CUDA); warm-up steps are excluded;
- with ``NEURODYN_BENCH_AMP=1`` the forward pass (``step_fn``) runs under ``torch.autocast`` (bfloat16 where
  supported, else float16) on CUDA; the backward pass and optimiser step stay where ``fit`` puts them;
- one JSON line per ``fit`` call is appended to ``NEURODYN_BENCH_LOG``: the command, fit's label, device,
  requested and timed steps, seconds per step, samples per step (see ``samples_per_step``), the peak GPU memory
  allocated by torch during the fit (``peak_gpu_mb``, CUDA only), plus one line per
  process with its total wall time (``"kind": "process"``).

A bash shim named ``neurodyn`` that execs this file is put first on PATH by benchmarks/train.py, so Snakemake's
rules call it unchanged.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

LOG = os.environ.get("NEURODYN_BENCH_LOG")
STEPS = int(os.environ.get("NEURODYN_BENCH_STEPS", "20"))
WARMUP = int(os.environ.get("NEURODYN_BENCH_WARMUP", "3"))
AMP = os.environ.get("NEURODYN_BENCH_AMP", "0") == "1"
SAMPLE_KEYS = ("batch_size", "n_batch", "batch_trials")


def samples_per_step(argv: list[str]) -> int | None:
    """Samples (sequences / trials / clips) per step, from the job's ``--params`` JSON: the value of a key named
    ``batch_size`` (or ``n_batch``, ``batch_trials``) anywhere in it, when there is exactly one such value."""
    if "--params" not in argv:
        return None
    try:
        params = json.loads(argv[argv.index("--params") + 1])
    except (IndexError, json.JSONDecodeError):
        return None
    found: set[int] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in SAMPLE_KEYS and isinstance(value, int):
                    found.add(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(params)
    return found.pop() if len(found) == 1 else None


def short_argv(argv: list[str]) -> list[str]:
    """The command without its (long) JSON ``--params`` value."""
    out = list(argv)
    if "--params" in out and out.index("--params") + 1 < len(out):
        out[out.index("--params") + 1] = "{...}"
    return out


def _append(record: dict) -> None:
    if LOG:
        with open(LOG, "a") as fh:
            fh.write(json.dumps(record) + "\n")


def wrap_fit(loop_module, argv: list[str]) -> None:
    """Replace ``loop_module.fit`` by a timed, capped version (records go to NEURODYN_BENCH_LOG)."""
    import torch

    original = loop_module.fit

    def timed_fit(*args, **kwargs):
        requested = int(kwargs.get("n_steps", 0))
        step_fn = kwargs["step_fn"]
        params = [p for m in kwargs.get("modules", {}).values() for p in m.parameters()]
        device = params[0].device if params else torch.device("cpu")
        amp = AMP and device.type == "cuda"
        dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else torch.float16
        stamps: list[float] = []

        def sync() -> None:
            if device.type == "cuda":
                torch.cuda.synchronize(device)

        def timed_step(step, gen):
            sync()
            stamps.append(time.perf_counter())  # the end of the previous step (its backward and update included)
            if amp:
                with torch.autocast(device_type="cuda", dtype=dtype):
                    return step_fn(step, gen)
            return step_fn(step, gen)

        kwargs["step_fn"] = timed_step
        kwargs["n_steps"] = min(requested, WARMUP + STEPS) if requested else requested
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        result = original(*args, **kwargs)
        sync()
        stamps.append(time.perf_counter())
        peak_gpu_mb = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
        durations = [b - a for a, b in zip(stamps[:-1], stamps[1:])][WARMUP:]
        per_step = sum(durations) / len(durations) if durations else None
        samples = samples_per_step(argv)
        _append({
            "kind": "fit", "argv": short_argv(argv), "label": kwargs.get("label"), "device": str(device), "amp": amp,
            "amp_dtype": str(dtype).replace("torch.", "") if amp else None, "n_params": sum(p.numel() for p in params),
            "requested_steps": requested, "timed_steps": len(durations), "s_per_step": per_step,
            "steps_per_s": 1.0 / per_step if per_step else None, "samples_per_step": samples,
            "samples_per_s": samples / per_step if samples and per_step else None,
            "projected_fit_s": per_step * requested if per_step else None,
            "peak_gpu_mb": peak_gpu_mb,
        })
        return result

    loop_module.fit = timed_fit


def main() -> int:
    argv = sys.argv[1:]
    root = Path(__file__).resolve().parents[1]
    if str(root / "src") not in sys.path:
        sys.path.insert(0, str(root / "src"))
    from neurodyn import loop

    wrap_fit(loop, argv)
    from neurodyn import cli

    t0 = time.perf_counter()
    sys.argv = ["neurodyn", *argv]
    try:
        code = cli.main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    _append({"kind": "process", "argv": short_argv(argv), "wall_s": time.perf_counter() - t0, "returncode": code})
    return code


if __name__ == "__main__":
    sys.exit(main())
