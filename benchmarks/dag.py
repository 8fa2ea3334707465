"""DAG overhead: time to plan the full reproduction (`snakemake -n`) and to confirm a finished demo is up to date.

    python benchmarks/dag.py                 # plans the full DAG, runs the demo once in a scratch copy, re-plans it
    python benchmarks/dag.py --no-demo-run   # planning of the full DAG and of the (unfinished) demo only

Everything runs in a scratch copy of the repository's tracked files (so nothing is written into the checkout):

1. ``snakemake -n --cores all`` with config.yaml (the full reproduction; nothing is downloaded by a dry run);
2. ``snakemake --profile profiles/demo`` once (the demo, offline), not timed as overhead (its wall time is shown);
3. ``snakemake -n --profile profiles/demo`` after it: must report nothing to do.

Each planning command is run ``--repeats`` times (default 3) and the fastest and median wall times are printed,
with the number of jobs planned. Goals: full plan under 5 s, finished-demo check under 3 s. The demo's mirror
(``../shared/data`` relative to the checkout) is passed as an absolute path so the scratch copy sees the same
inputs. Figures go to stdout and ``benchmarks/out/dag.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def scratch_copy(dest: Path) -> Path:
    """Copy the tracked files (git ls-files; everything but results/ and caches without git) into dest/repo."""
    repo = dest / "repo"
    try:
        files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
        names = [f.decode() for f in files if f]
    except (OSError, subprocess.CalledProcessError):
        top = {"results", ".snakemake", ".git", "data", ".venv", ".pytest_cache"}
        names = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file()
                 and p.relative_to(ROOT).parts[0] not in top and "__pycache__" not in p.parts
                 and not p.relative_to(ROOT).as_posix().startswith(("benchmarks/out/", "benchmarks/.nlbenv/"))]
    for name in names:
        src = ROOT / name
        if src.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, repo / name)
    return repo


@contextlib.contextmanager
def scratch_repo(prefix: str, keep: bool) -> Iterator[tuple[Path, Path]]:
    """(folder, repo): a new temporary folder holding a scratch copy of the repository (:func:`scratch_copy`),
    removed on exit unless ``keep`` (then its path is printed)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield tmp, scratch_copy(tmp)
    finally:
        if keep:
            print(f"scratch copy kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def snakemake(args: list[str], cwd: Path, env: dict) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(["snakemake", *args], cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - t0, proc


def planned_jobs(text: str) -> int | None:
    """Total from snakemake's 'Job stats' table (0 when it says nothing to be done)."""
    if "Nothing to be done" in text:
        return 0
    match = re.search(r"^total\s+(\d+)", text, re.M)
    return int(match.group(1)) if match else None


def time_plan(label: str, args: list[str], cwd: Path, env: dict, repeats: int) -> dict:
    times, out = [], None
    for _ in range(repeats):
        seconds, proc = snakemake(args, cwd, env)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise SystemExit(f"{label}: snakemake {' '.join(args)} failed:\n" + "\n".join(tail))
        times.append(seconds)
        out = proc.stdout + proc.stderr
    return {"label": label, "command": "snakemake " + " ".join(args), "min_s": min(times),
            "median_s": statistics.median(times), "runs": times, "jobs": planned_jobs(out),
            "nothing_to_do": "Nothing to be done" in out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-demo-run", action="store_true", help="skip running the demo (plan only)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy (its path is printed)")
    parser.add_argument("--json", type=Path, default=HERE / "out" / "dag.json")
    args = parser.parse_args(argv)
    if shutil.which("snakemake") is None:
        parser.error("snakemake is not on PATH (activate the project environment)")
    report: dict = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "load_1min": os.getloadavg()[0]}
    with scratch_repo("neurodyn-dag-", args.keep) as (tmp, repo):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo / "src"), os.environ.get("PYTHONPATH", "")])}
        mirror = (ROOT / ".." / "shared" / "data").resolve()
        demo = ["--profile", "profiles/demo"] + (["--config", f"mirror={mirror}"] if mirror.is_dir() else [])
        full = time_plan("full reproduction: snakemake -n --cores all", ["-n", "--cores", "all"], repo, env, args.repeats)
        report["full_plan"] = full
        print(f"full DAG plan:        {full['min_s']:.2f} s (median {full['median_s']:.2f} s, {full['jobs']} jobs)  goal < 5 s")
        if args.no_demo_run:
            plan = time_plan("demo plan (not run)", ["-n", *demo], repo, env, args.repeats)
            report["demo_plan_unfinished"] = plan
            print(f"demo plan (not run):  {plan['min_s']:.2f} s (median {plan['median_s']:.2f} s, {plan['jobs']} jobs)")
        else:
            seconds, proc = snakemake(demo, repo, env)
            report["demo_run"] = {"wall_s": seconds, "returncode": proc.returncode,
                                  "tail": (proc.stderr or proc.stdout).strip().splitlines()[-3:]}
            print(f"demo run:             {seconds:.0f} s (exit {proc.returncode})")
            if proc.returncode != 0:
                print("  the demo did not finish; the up-to-date check below covers what it built:", file=sys.stderr)
                print("  " + "\n  ".join(report["demo_run"]["tail"]), file=sys.stderr)
            done = time_plan("finished demo: snakemake -n --profile profiles/demo", ["-n", *demo], repo, env, args.repeats)
            report["demo_up_to_date"] = done
            state = "nothing to do" if done["nothing_to_do"] else f"{done['jobs']} jobs would run"
            print(f"finished-demo check:  {done['min_s']:.2f} s (median {done['median_s']:.2f} s, {state})  goal < 3 s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
