"""Where a finished run's jobs spend their time: CPU and wall seconds per rule, and the fixed start-up cost.

    python benchmarks/jobs.py                       # the demo run in this checkout (results/benchmarks)
    python benchmarks/jobs.py --root /path/to/run   # any finished run directory (e.g. a test's demo copy)
    python benchmarks/jobs.py --no-startup          # skip measuring the import cost

Every rule writes Snakemake's ``benchmark:`` file (``results/benchmarks/...tsv``: wall ``s``, ``cpu_time``,
``max_rss``); each file is matched back to its rule through the rules' benchmark patterns in
``workflow/rules/*.smk``. Snakemake samples a job's CPU time while it runs, so a short job's ``cpu_time`` is
a lower bound (seen: 8 CPU-s for a 38 s job); the wall time is exact. The start-up cost is what every job pays before its work: a fresh Python process
that imports the stack a job needs (``torch`` for training jobs; ``zarr``, ``xarray``, ``numpy`` and
``neurodyn.store`` for all), measured ``--repeats`` times; start-up x jobs is the share of the run that fewer,
larger jobs or lazier imports could save. Figures go to stdout and ``benchmarks/out/jobs.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STACKS = {
    "base (numpy, zarr, xarray, neurodyn.store)": "import numpy, zarr, xarray, neurodyn.store",
    "training (+ torch)": "import numpy, zarr, xarray, neurodyn.store, torch",
}


def rule_blocks(rules_dir: Path) -> Iterator[tuple[str, str]]:
    """(rule name, the rule's text up to the next rule) for every rule in ``rules_dir``/*.smk."""
    for smk in sorted(rules_dir.glob("*.smk")):
        for block in re.split(r"(?m)^(?=rule )", smk.read_text()):
            name = re.match(r"rule\s+(\w+)\s*:", block)
            if name:
                yield name.group(1), block


def rule_patterns(rules_dir: Path) -> list[tuple[str, re.Pattern, int]]:
    """(rule, regex of its benchmark path relative to results/benchmarks, literal length) for every rule that
    declares one; a wildcard matches any text (a DANDI asset path has slashes)."""
    out = []
    for rule, block in rule_blocks(rules_dir):
        m_bench = re.search(r'(?m)^    benchmark:\n\s+"results/benchmarks/([^"]+)"', block)
        if m_bench:
            template = m_bench.group(1)
            literal = len(re.sub(r"\{\w+\}", "", template))
            out.append((rule, re.compile(re.sub(r"\\\{\w+\\\}", ".+?", re.escape(template))), literal))
    return out


def read_jobs(bench_dir: Path, patterns: list[tuple[str, re.Pattern, int]]) -> list[dict]:
    """One row per benchmark file: rule, path, wall s, CPU s, peak RSS MB (the last row of a file: its last run)."""
    rows = []
    for tsv in sorted(bench_dir.rglob("*.tsv")):
        rel = tsv.relative_to(bench_dir).as_posix()
        # the most specific pattern wins ("baseline_neural_{m}_seed{s}" over "baseline_neural_{m}")
        matches = sorted((-n, r) for r, p, n in patterns if p.fullmatch(rel))
        rule = matches[0][1] if matches else "?"
        with open(tsv, newline="") as fh:
            records = list(csv.DictReader(fh, delimiter="\t"))
        if not records:
            continue
        last = records[-1]
        rows.append({"rule": rule, "path": rel, "wall_s": float(last["s"]), "cpu_s": float(last["cpu_time"]),
                     "max_rss_mb": float(last["max_rss"]) if last["max_rss"] not in ("", "-") else None})
    return rows


def startup_seconds(code: str, repeats: int) -> float:
    """Median wall seconds of a fresh interpreter running ``code`` (src/ first on the path)."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="a run directory holding results/benchmarks (default: this checkout)")
    parser.add_argument("--repeats", type=int, default=3, help="start-up measurements per stack")
    parser.add_argument("--no-startup", action="store_true", help="do not measure the import cost")
    parser.add_argument("--json", type=Path, default=HERE / "out" / "jobs.json")
    args = parser.parse_args(argv)
    bench_dir = args.root / "results" / "benchmarks"
    if not bench_dir.is_dir():
        print(f"benchmarks/jobs.py: {bench_dir}: no benchmark files (run the demo first: bash scripts/demo.sh)", file=sys.stderr)
        return 2
    rows = read_jobs(bench_dir, rule_patterns(ROOT / "workflow" / "rules"))
    per_rule: dict[str, dict] = {}
    for r in rows:
        agg = per_rule.setdefault(r["rule"], {"jobs": 0, "wall_s": 0.0, "cpu_s": 0.0, "max_rss_mb": 0.0})
        agg["jobs"] += 1
        agg["wall_s"] += r["wall_s"]
        agg["cpu_s"] += r["cpu_s"]
        agg["max_rss_mb"] = max(agg["max_rss_mb"], r["max_rss_mb"] or 0.0)
    total_cpu = sum(a["cpu_s"] for a in per_rule.values())
    total_wall = sum(a["wall_s"] for a in per_rule.values())
    print(f"{len(rows)} jobs in {bench_dir}: {total_cpu:,.0f} CPU-s, {total_wall:,.0f} job-wall-s "
          f"(load {os.getloadavg()[0]:.1f} now)\n")
    print(f"| rule | jobs | CPU s | share | job wall s | peak RSS MB |\n|---|---|---|---|---|---|")
    for rule, a in sorted(per_rule.items(), key=lambda kv: -kv[1]["cpu_s"]):
        print(f"| {rule} | {a['jobs']} | {a['cpu_s']:,.0f} | {100 * a['cpu_s'] / max(total_cpu, 1e-9):.0f} % | {a['wall_s']:,.0f} | {a['max_rss_mb']:,.0f} |")
    result = {"root": str(args.root), "jobs": rows, "per_rule": per_rule, "total_cpu_s": total_cpu, "total_wall_s": total_wall}
    if not args.no_startup:
        print()
        startup = {name: startup_seconds(code, args.repeats) for name, code in STACKS.items()}
        for name, s in startup.items():
            print(f"start-up, {name}: {s:.2f} s per job")
        worst = max(startup.values())
        print(f"start-up x {len(rows)} jobs: at most {worst * len(rows):,.0f} s of the {total_wall:,.0f} job-wall-s "
              f"({100 * worst * len(rows) / max(total_wall, 1e-9):.0f} %)")
        result["startup_s"] = startup
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
