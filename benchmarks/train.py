"""Training throughput of every model and ERDiff's alignment time, at the demo and the paper configuration.

    python benchmarks/train.py                       # demo and paper configuration, CPU (and CUDA when present)
    python benchmarks/train.py --configs demo --steps 10

Protocol (no benchmark code in the models): every training and alignment job calls ``neurodyn.loop.fit``.
In a scratch copy of the repository, Snakemake runs the jobs of every rule whose command trains
(``TRAINING``: ``neurodyn metadyn train|transfer``, ``neurodyn dcf train|baseline``) or aligns (``ALIGNMENT``:
``neurodyn erdiff experiment``) — with their upstream jobs (simulation, conversion), exactly as the pipeline
plans them for `rule all`, leaving out (--omit-from) every rule that only formats results (tables, figures,
scorecards, the NLB reference) — but with a ``neurodyn`` shim first on PATH
(benchmarks/timed_neurodyn.py) that caps each ``fit`` at warm-up + ``--steps`` steps and times the steps.
So the figures are those of the real commands, data loading included, with the configuration's batch sizes and
model sizes:

- training: steps/s and samples/s (samples per step = the ``batch_size`` of the job's config slice) per job;
- alignment (ERDiff Table 2 methods, one job per method and target session): the job's wall time with the
  capped number of steps, and the projection to the configured steps: wall - timed steps + configured steps x
  s/step.

Configurations: ``demo`` = profiles/demo (config.yaml + config/demo.yaml, offline, local mirror);
``paper`` = config.yaml itself, offline with the same mirror, i.e. paper-scale hyperparameters on every
session available here (DANDI sessions need a download and are left out offline). Devices: CPU always; on a
CUDA machine also CUDA in fp32 and with mixed precision (``NEURODYN_BENCH_AMP=1``: autocast bf16/fp16).
Figures go to stdout and ``benchmarks/out/train.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from dag import scratch_repo  # noqa: E402
from jobs import rule_blocks  # noqa: E402


TRAINING = (["metadyn", "train"], ["metadyn", "transfer"], ["dcf", "train"], ["dcf", "baseline"])
ALIGNMENT = (["erdiff", "experiment"],)
UPSTREAM = ("download", "convert", "simulate", "lock")  # the inputs every model job needs


def rule_commands(repo: Path) -> dict[str, list[str]]:
    """rule -> the first two words of its ``neurodyn`` command (e.g. ["dcf", "train"]), for every rule file."""
    out = {}
    for rule, block in rule_blocks(repo / "workflow" / "rules"):
        cmd = re.search(r'"neurodyn\s+([\w-]+)\s*([\w-]*)', block)
        if cmd:
            out[rule] = [cmd.group(1), cmd.group(2)]
    return out


def devices() -> list[tuple[str, bool]]:
    """(device, mixed precision) variants to run: CPU; CUDA fp32 and CUDA AMP when a GPU is visible."""
    out = [("cpu", False)]
    try:
        import torch

        if torch.cuda.is_available():
            out += [("cuda", False), ("cuda", True)]
    except ImportError:
        pass
    return out


def run_config(name: str, repo: Path, base: list[str], extra_config: list[str], rules: list[str], omit: list[str],
               device: str, amp: bool, args, log: Path) -> dict:
    shim = repo.parent / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "neurodyn").write_text(f'#!/usr/bin/env bash\nexec "{sys.executable}" "{repo / "benchmarks" / "timed_neurodyn.py"}" "$@"\n')
    (shim / "neurodyn").chmod(0o755)
    env = {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}", "NEURODYN_BENCH_LOG": str(log),
           "NEURODYN_BENCH_STEPS": str(args.steps), "NEURODYN_BENCH_WARMUP": str(args.warmup),
           "NEURODYN_BENCH_AMP": "1" if amp else "0",
           "PYTHONPATH": os.pathsep.join([str(repo / "src"), os.environ.get("PYTHONPATH", "")])}
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    overrides = [*extra_config, f"device={device}", *([f"mirror={args.mirror}"] if args.mirror else [])]
    # `--until <rules>` together with `--forcerun` hits Snakemake's "Out of jobs ready to be started" bug
    # (snakemake#823) on this DAG; leaving out the downstream stages with --omit-from plans the same jobs
    cmd = ["snakemake", *base, "--config", *overrides, "--forcerun", *rules, "--rerun-incomplete",
           *(["--omit-from", *omit] if omit else [])]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=args.timeout)
        code, tail = proc.returncode, (proc.stderr or proc.stdout).strip().splitlines()[-4:]
    except subprocess.TimeoutExpired:
        code, tail = "timeout", [f"stopped after {args.timeout} s"]
    return {"config": name, "device": device, "amp": amp, "wall_s": time.perf_counter() - t0, "returncode": code,
            "tail": tail, "command": " ".join(cmd)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["demo", "paper"], choices=["demo", "paper", "rehearsal"],
                        help="rehearsal: config.yaml + --overlay (the stand-ins of scripts/rehearse.sh)")
    parser.add_argument("--overlay", type=Path, default=None, help="config overlay of the rehearsal config (with its mirror)")
    parser.add_argument("--devices", nargs="+", default=None, choices=["cpu", "cuda", "cuda-amp"], help="default: CPU, and CUDA fp32 + AMP when present")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per fit (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per Snakemake run")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy")
    parser.add_argument("--json", type=Path, default=HERE / "out" / "train.json")
    args = parser.parse_args(argv)
    mirror = (ROOT / ".." / "shared" / "data").resolve()
    args.mirror = str(mirror) if mirror.is_dir() else None

    report: dict = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "steps": args.steps, "warmup": args.warmup, "runs": [], "records": []}
    with scratch_repo("neurodyn-train-", args.keep) as (tmp, repo):
        commands = rule_commands(repo)
        train_rules = [r for r, c in commands.items() if c in TRAINING]
        align_rules = [r for r, c in commands.items() if c in ALIGNMENT]
        omit = [r for r, c in commands.items() if c not in (*TRAINING, *ALIGNMENT) and c[0] not in UPSTREAM]
        report.update(train_rules=train_rules, align_rules=align_rules)
        if not train_rules and not align_rules:
            print("no training or alignment rule in workflow/rules/*.smk: nothing to time")
        else:
            bases = {"demo": (["--profile", "profiles/demo"], []), "paper": (["--cores", "2"], ["offline=True"])}
            if "rehearsal" in args.configs:
                if args.overlay is None or not args.overlay.exists():
                    parser.error("--configs rehearsal needs --overlay (written by `neurodyn rehearse standins`)")
                bases["rehearsal"] = (["--cores", str(max(1, min(8, os.cpu_count() or 1))), "--configfile", "config.yaml",
                                       str(args.overlay.resolve())], [])
            chosen = devices() if args.devices is None else [(d.split("-")[0], d.endswith("-amp")) for d in args.devices]
            for config in args.configs:
                mirror = args.mirror
                if config == "rehearsal":
                    args.mirror = None  # the overlay names the stand-ins' mirror
                for device, amp in chosen:
                    log = tmp / f"{config}-{device}-{int(amp)}.jsonl"
                    run = run_config(config, repo, *bases[config], train_rules + align_rules, omit, device, amp, args, log)
                    report["runs"].append(run)
                    for line in (log.read_text().splitlines() if log.exists() else []):
                        report["records"].append({"config": config, "device_asked": device, **json.loads(line)})
                    if run["returncode"] != 0:
                        print(f"{config}/{device}{' amp' if amp else ''}: snakemake exit {run['returncode']}: " + " | ".join(run["tail"]), file=sys.stderr)
                args.mirror = mirror
        print_tables(report)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1))
    return 0


def _job(argv: list[str]) -> str:
    """A short job name: the command and its identifying options (method, sessions, out folder)."""
    name = " ".join(argv[:2])
    for opt in ("--method", "--variant"):
        if opt in argv:
            name += f" {argv[argv.index(opt) + 1]}"
    if "--out" in argv:
        name += f"  -> {'/'.join(Path(argv[argv.index('--out') + 1]).parts[-3:])}"
    return name


def print_tables(report: dict) -> None:
    fits = [r for r in report["records"] if r["kind"] == "fit"]
    train = [r for r in fits if r["argv"][:2] in TRAINING]
    if train:
        print(f"training throughput ({report['steps']} timed steps after {report['warmup']} warm-up, real commands):")
        print(f"{'config':<9} {'device':<10} {'steps/s':>8} {'samples/s':>10} {'GPU MB':>8} {'params':>11}  job (fit label)")
        for r in train:
            dev = r["device"] + (f" {r['amp_dtype']}" if r["amp"] else "")
            sps = f"{r['samples_per_s']:.1f}" if r["samples_per_s"] else "n/a"
            gpu = f"{r['peak_gpu_mb']:.0f}" if r.get("peak_gpu_mb") else "-"
            print(f"{r['config']:<9} {dev:<10} {r['steps_per_s'] or 0:>8.2f} {sps:>10} {gpu:>8} {r['n_params']:>11,}  {_job(r['argv'])} ({r['label']})")
    procs = [r for r in report["records"] if r["kind"] == "process" and r["argv"][:2] in ALIGNMENT]
    if procs:
        print("alignment time per job (ERDiff Table 2 methods; capped run, and projected to the configured steps):")
        print(f"{'config':<6} {'device':<10} {'capped s':>9} {'projected s':>12}  job")
        for p in procs:
            own = [f for f in fits if f["argv"] == p["argv"] and f["config"] == p["config"] and f["device_asked"] == p["device_asked"]]
            timed = sum((f["s_per_step"] or 0) * f["timed_steps"] for f in own)
            projected = p["wall_s"] - timed + sum(f["projected_fit_s"] or 0 for f in own) if own else p["wall_s"]
            print(f"{p['config']:<6} {p['device_asked']:<10} {p['wall_s']:>9.1f} {projected:>12.1f}  {_job(p['argv'])}")
    if not train and not procs:
        print("no training or alignment job ran (see the Snakemake exit lines above, if any)")


if __name__ == "__main__":
    sys.exit(main())
