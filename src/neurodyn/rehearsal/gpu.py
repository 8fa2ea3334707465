"""``bash scripts/rehearse.sh --gpu``: the rehearsal's training jobs on the GPU — steps/s, samples/s, peak GPU memory.

``neurodyn rehearse gpu --rehearsal-dir results/rehearsal [--steps 20] [--warmup 3]``

Needs CUDA (``torch.cuda.is_available()``): without it this prints why in one line and exits with status 3 —
the CPU rehearsal (``bash scripts/rehearse.sh``) is the one that must pass everywhere. With a GPU it runs
benchmarks/train.py on the rehearsal configuration (config.yaml + the stand-ins' overlay, written by
``neurodyn rehearse standins``; the step cap raised to warm-up + ``--steps`` so that every fit times the same
number of steps), for the CPU and for CUDA (fp32 and mixed precision): every training, transfer and alignment
job of the full configuration, each ``fit`` timed by benchmarks/timed_neurodyn.py, which also records
``torch.cuda.max_memory_allocated`` per fit. The table (CPU and GPU figures side by side, one line per fit) goes
to stdout and ``<rehearsal-dir>/gpu.md``; the records to ``<rehearsal-dir>/gpu.json``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

EXIT_NO_GPU = 3


def cuda_status() -> tuple[bool, str]:
    try:
        import torch
    except ImportError as err:  # pragma: no cover - torch is a dependency
        return False, f"torch does not import ({err})"
    if torch.cuda.is_available():
        return True, f"{torch.cuda.get_device_name(0)} (torch {torch.__version__}, CUDA {torch.version.cuda})"
    built = torch.version.cuda or "none (a CPU-only build)"
    return False, f"torch.cuda.is_available() is False (torch {torch.__version__}, built with CUDA {built})"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn rehearse gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--rehearsal-dir", type=Path, default=Path("results/rehearsal"))
    parser.add_argument("--config", nargs="+", default=["config.yaml"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)
    ok, what = cuda_status()
    if not ok:
        print(f"neurodyn rehearse --gpu: no GPU on this machine: {what}. The GPU figures need one; the CPU rehearsal "
              "is `bash scripts/rehearse.sh` (it does not need a GPU).", file=sys.stderr)
        return EXIT_NO_GPU
    import yaml

    from neurodyn.config import load

    out = args.rehearsal_dir.resolve()
    standins = out / "standins"
    if not (standins / "overlay.yaml").exists():
        from neurodyn.rehearsal.standins import DEFAULT_FULL, DEFAULT_SCALE, write

        write(load(*args.config), standins, scale=DEFAULT_SCALE, seed=0, full=DEFAULT_FULL, max_steps=args.warmup + args.steps)
    overlay = yaml.safe_load((standins / "overlay.yaml").read_text())
    overlay["rehearsal"] = {"max_steps": args.warmup + args.steps}
    gpu_overlay = out / "gpu-overlay.yaml"
    gpu_overlay.write_text(yaml.safe_dump(overlay, sort_keys=False))
    root = Path(__file__).resolve().parents[3]
    cmd = [sys.executable, str(root / "benchmarks" / "train.py"), "--configs", "rehearsal", "--overlay", str(gpu_overlay),
           "--steps", str(args.steps), "--warmup", str(args.warmup), "--json", str(out / "gpu.json"),
           "--devices", "cpu", "cuda", "cuda-amp"]
    print(f"neurodyn rehearse --gpu: {what}", file=sys.stderr)
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    sys.stderr.write(proc.stderr)
    text = f"# Rehearsal on the GPU: {what}\n\n```\n{proc.stdout}```\n"
    (out / "gpu.md").write_text(text)
    print(proc.stdout)
    return proc.returncode
