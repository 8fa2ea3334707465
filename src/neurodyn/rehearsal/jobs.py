"""The rehearsal's jobs table: every job's peak memory and wall time beside what the SLURM profile asks for it.

``neurodyn rehearse jobs --snakemake-log LOG --probe-log JOBS.jsonl --profile profiles/slurm/config.v8+.yaml
--out results/rehearsal/jobs.md [--csv ...]``

- Jobs and their resources come from Snakemake's own log of the run (each job block: ``rule``, ``output``,
  ``log``, ``threads``, ``resources``). scripts/rehearse.sh runs Snakemake with the SLURM profile's
  ``default-resources`` (and its ``set-resources``), so a job's printed ``mem_mb`` / ``runtime`` are exactly what
  ``profiles/slurm`` would request (``--mem``, ``--time``); ``requested()`` applies the profile again, so a log of
  a run with other defaults is read the same way.
- Measurements come from the probe (``neurodyn.rehearsal.probe``): one line per ``neurodyn`` process, joined to
  its job by the log file its stderr went to.
- A job is **flagged** when its peak RSS exceeds the memory requested, or its wall time the runtime requested.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from neurodyn.errors import InputError

JOB_START = re.compile(r"^(local)?rule (\w+):\s*$")
FIELD = re.compile(r"^\s{4}(\w+): (.*)$")


@dataclass
class Job:
    rule: str
    output: str = ""
    log: str = ""
    jobid: str = ""
    threads: int = 1
    resources: dict[str, Any] = field(default_factory=dict)
    local: bool = False


def parse_snakemake_log(text: str) -> list[Job]:
    """Job blocks of a Snakemake (8/9) log, in order; ``rule all`` left out. A log of several (resumed) runs
    holds a job once per run: jobs are keyed by (rule, output), the last block wins."""
    jobs: dict[tuple, Job] = {}
    current: Job | None = None
    for line in text.splitlines():
        m = JOB_START.match(line)
        if m:
            current = Job(rule=m.group(2), local=bool(m.group(1)))
            continue
        if current is None:
            continue
        f = FIELD.match(line)
        if not f:
            if line.strip() and not line.startswith(" "):
                if current.jobid and current.rule != "all":
                    jobs[(current.rule, current.output)] = current
                current = None
            continue
        key, value = f.groups()
        if key == "output":
            current.output = value.strip()
        elif key == "log":
            current.log = value.strip()
        elif key == "jobid":
            current.jobid = value.strip()
        elif key == "threads":
            current.threads = int(value)
        elif key == "resources":
            current.resources = _resources(value)
    if current is not None and current.jobid and current.rule != "all":
        jobs[(current.rule, current.output)] = current
    return list(jobs.values())


def _resources(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in text.split(", "):
        if "=" in part:
            k, v = part.split("=", 1)
            try:
                out[k.strip()] = int(v)
            except ValueError:
                try:
                    out[k.strip()] = float(v)
                except ValueError:
                    out[k.strip()] = v.strip("'\"")
    return out


def local_rules(rules_dir: str | os.PathLike) -> set[str]:
    """Rules declared ``localrules:`` in the workflow (they run where Snakemake runs: the login node under SLURM).
    Snakemake's local executor prints every job as ``localrule``, so its log cannot tell them apart."""
    names: set[str] = set()
    for path in sorted(Path(rules_dir).glob("*.smk")):
        block = False
        for line in path.read_text().splitlines():
            if line.startswith("localrules:"):
                block = True
                names |= {n.strip() for n in line.split(":", 1)[1].split(",") if n.strip()}
                continue
            if block:
                if line.startswith((" ", "\t")) and line.strip():
                    names |= {n.strip() for n in line.split(",") if n.strip()}
                elif line.strip():
                    block = False
    return names


def load_profile(path: str | os.PathLike) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        raise InputError(p, "", "a Snakemake profile config (profiles/slurm/config.v8+.yaml)")
    return yaml.safe_load(p.read_text()) or {}


def requested(job: Job, profile: Mapping[str, Any], local: set[str] | None = None) -> dict[str, Any]:
    """What the SLURM profile requests for ``job``: set-resources, else the rule's own, else default-resources."""
    defaults = dict(profile.get("default-resources") or {})
    per_rule = dict((profile.get("set-resources") or {}).get(job.rule) or {})
    threads = (profile.get("set-threads") or {}).get(job.rule, job.threads)
    out = {}
    for key in ("mem_mb", "runtime", "gpu"):
        value = per_rule.get(key, job.resources.get(key, defaults.get(key)))
        out[key] = value
    out["threads"] = threads
    is_local = job.rule in local if local is not None else job.local
    out["where"] = "login node (local rule)" if is_local else "sbatch"
    return out


def measurements(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Probe records by the real path of the log file they wrote to (the last record wins: retries)."""
    out: dict[str, dict[str, Any]] = {}
    p = Path(path)
    if not p.exists():
        return out
    for line in p.read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            if rec.get("log"):
                out[os.path.realpath(rec["log"])] = rec
    return out


def table(jobs: list[Job], probes: Mapping[str, Mapping[str, Any]], profile: Mapping[str, Any], workdir: str,
          local: set[str] | None = None) -> list[dict[str, Any]]:
    rows = []
    for job in jobs:
        rec = probes.get(os.path.realpath(os.path.join(workdir, job.log))) if job.log else None
        req = requested(job, profile, local)
        row = {"rule": job.rule, "output": job.output, "threads": req["threads"], "mem_mb_requested": req["mem_mb"],
               "cpu_s": rec.get("cpu_s") if rec else None,
               "runtime_min_requested": req["runtime"], "gpu_requested": req["gpu"] or 0, "where": req["where"],
               "peak_rss_mb": rec["max_rss_mb"] if rec else None, "wall_s": rec["wall_s"] if rec else None,
               "rc": rec["rc"] if rec else None, "flag": ""}
        flags = []
        if rec is None:
            flags.append("not measured (no neurodyn process logged to this job's log)")
        else:
            if req["mem_mb"] is not None and rec["max_rss_mb"] > float(req["mem_mb"]):
                flags.append(f"MEMORY: peak {rec['max_rss_mb']:.0f} MB > requested {req['mem_mb']} MB")
            if req["runtime"] is not None and rec["wall_s"] > 60.0 * float(req["runtime"]):
                flags.append(f"TIME: {rec['wall_s']:.0f} s > requested {req['runtime']} min")
            if rec.get("stopped_at_limit_s"):
                flags.append(f"STOPPED at the rehearsal's per-job limit ({rec['stopped_at_limit_s']:.0f} s)")
            if rec["rc"] != 0:
                flags.append(f"exit {rec['rc']}")
        row["steps"] = steps_logged(os.path.join(workdir, job.log)) if job.log else ""
        if rec is not None and rec["rc"] != 0 and job.log:
            row["error"] = last_line(os.path.join(workdir, job.log))
        row["flag"] = "; ".join(flags)
        rows.append(row)
    return rows


STEP_LINE = re.compile(r"\[([^\]]+)\] step (\d+)/(\d+)")


def steps_logged(path: str) -> str:
    """Optimisation steps a job's log shows (``neurodyn.utils.progress`` lines of ``fit``): "<fits> fits, >= <min
    steps reached> steps", or "" when it shows none."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    reached: dict[str, int] = {}
    for label, step, _total in STEP_LINE.findall(text):
        reached[label] = max(reached.get(label, 0), int(step))
    return f"{len(reached)} fits, >= {min(reached.values())} steps" if reached else ""


def last_line(path: str) -> str:
    try:
        lines = [ln for ln in Path(path).read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


COLUMNS = ["rule", "output", "steps", "threads", "peak_rss_mb", "mem_mb_requested", "wall_s", "cpu_s", "runtime_min_requested", "gpu_requested", "where", "rc", "flag"]


def to_markdown(rows: list[dict[str, Any]], header: str) -> str:
    measured = [r for r in rows if r["peak_rss_mb"] is not None]
    flagged = [r for r in rows if r["flag"].startswith(("MEMORY", "TIME")) or "MEMORY" in r["flag"] or "TIME" in r["flag"]]
    lines = [header, "",
             f"{len(rows)} jobs, {len(measured)} measured; {len(flagged)} flagged (peak memory above the SLURM request, or wall time above it).",
             f"Largest peak memory: " + ", ".join(f"{r['rule']} {r['peak_rss_mb']:.0f} MB" for r in sorted(measured, key=lambda r: -r["peak_rss_mb"])[:5]) if measured else "",
             f"Longest wall time: " + ", ".join(f"{r['rule']} {r['wall_s']:.0f} s" for r in sorted(measured, key=lambda r: -r["wall_s"])[:5]) if measured else "",
             ""]
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for r in measured:
        by_rule.setdefault(r["rule"], []).append(r)
    if by_rule:
        total_cpu = sum(r["cpu_s"] or 0 for r in measured)
        lines += [f"CPU time of all measured jobs: {total_cpu:.0f} s (= {total_cpu / 120:.1f} min on 2 dedicated cores; "
                  "wall times below include the machine's other load).", "",
                  "| rule | jobs | wall s (sum) | CPU s (sum) | max peak RSS MB | mem requested MB | failed |", "|---|---|---|---|---|---|---|"]
        for rule, rs in sorted(by_rule.items(), key=lambda kv: -sum(r["cpu_s"] or 0 for r in kv[1])):
            lines.append(f"| {rule} | {len(rs)} | {sum(r['wall_s'] for r in rs):.0f} | {sum(r['cpu_s'] or 0 for r in rs):.0f} | "
                         f"{max(r['peak_rss_mb'] for r in rs):.0f} | {max((r['mem_mb_requested'] or 0) for r in rs)} | "
                         f"{sum(1 for r in rs if r['rc'] not in (0, None))} |")
        lines.append("")
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in sorted(rows, key=lambda r: (r["rule"], r["output"])):
        cells = ["" if r[c] is None else (f"{r[c]:.1f}" if isinstance(r[c], float) else str(r[c])) for c in COLUMNS]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def budget_line(rows: list[dict[str, Any]], elapsed_s: float, budget_s: float) -> str:
    """One line: the rehearsal's wall time against its budget; when over it, the rules that cost the most CPU."""
    if elapsed_s <= budget_s:
        return f"Within the budget: {elapsed_s:.0f} s wall against {budget_s:.0f} s."
    cpu: dict[str, float] = {}
    for r in rows:
        cpu[r["rule"]] = cpu.get(r["rule"], 0.0) + (r["cpu_s"] or 0.0)
    total = sum(cpu.values()) or 1.0
    top = ", ".join(f"{rule} {s:.0f} CPU-s ({100 * s / total:.0f} %)" for rule, s in sorted(cpu.items(), key=lambda kv: -kv[1])[:5])
    return (f"OVER the budget: {elapsed_s:.0f} s wall against {budget_s:.0f} s ({total:.0f} CPU-s in the jobs measured); "
            f"the costliest rules: {top}.")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn rehearse jobs", description=__doc__.splitlines()[0])
    parser.add_argument("--snakemake-log", required=True)
    parser.add_argument("--probe-log", required=True)
    parser.add_argument("--profile", default="profiles/slurm/config.v8+.yaml")
    parser.add_argument("--workdir", default=".", help="the directory Snakemake ran in (job log paths are relative to it)")
    parser.add_argument("--title", default="# Rehearsal: every job's peak memory and wall time vs the SLURM request")
    parser.add_argument("--out", required=True)
    parser.add_argument("--csv", default=None)
    parser.add_argument("--rules-dir", default=str(Path(__file__).resolve().parents[3] / "workflow" / "rules"),
                        help="workflow/rules (its localrules: run on the login node under SLURM)")
    parser.add_argument("--failed-only", action="store_true", help="list only failed jobs with their log's last line (stdout too)")
    parser.add_argument("--elapsed-s", type=float, default=None, help="the rehearsal's wall time so far (with --budget-s: say whether it fit)")
    parser.add_argument("--budget-s", type=float, default=1800.0, help="the rehearsal's wall-time budget (30 min on 2 cores)")
    args = parser.parse_args(argv)
    from neurodyn.utils.atomic import write_text

    jobs = parse_snakemake_log(Path(args.snakemake_log).read_text(errors="replace"))
    rows = table(jobs, measurements(args.probe_log), load_profile(args.profile), args.workdir, local_rules(args.rules_dir))
    if args.failed_only:
        failed = [r for r in rows if r["rc"] not in (0, None)]
        text = "\n".join(f"- {r['rule']} {r['output']}: exit {r['rc']}: {r.get('error', '')}" for r in failed)
        write_text(args.out, f"# Failed rehearsal jobs ({len(failed)})\n\n{text}\n")
        print(text or "no failed job recorded by the probe")
        return 0
    text = to_markdown(rows, args.title)
    if args.elapsed_s is not None:
        budget = budget_line(rows, args.elapsed_s, args.budget_s)
        print(f"neurodyn rehearse: {budget}")
        text = text.replace("\n\n", f"\n\n{budget}\n\n", 1)
    write_text(args.out, text)
    if args.csv:
        import csv
        import io

        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({c: r[c] for c in COLUMNS})
        write_text(args.csv, buf.getvalue())
    flagged = sum(1 for r in rows if "MEMORY" in r["flag"] or "TIME" in r["flag"])
    print(f"neurodyn rehearse jobs: {len(rows)} jobs, {flagged} flagged -> {args.out}")
    return 0
