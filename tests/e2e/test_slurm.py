"""The demo DAG on a real SLURM scheduler: a one-node cluster on localhost (scripts/slurm-local.sh, with fake
GPUs), Snakemake's SLURM executor plugin (profiles/slurm-ci).

The targets are a slice of the demo with every kind of job in it: every rule that asks for a GPU (the training
rules) and the dataset table (download as a local rule, conversion, simulation) — the whole demo is ~200 jobs,
each paying seconds of submission and start-up on SLURM. Checks that every job ran through sbatch except the
local rules; that each job got the partition, CPUs, memory, time limit and GPUs it asked for (scontrol, and the
allocation the job itself recorded in its run.json); that the results equal the same targets run locally; and
that a training job stopped by SLURM's time limit resumes from its checkpoint when Snakemake retries it.
6-10 minutes on 2 cores (3-4 of them the time-limit test, which must outlast a 1-minute limit).

Needs root and Debian packages (installed with apt-get when missing); skipped with the reason otherwise.
Run: ``bash scripts/test.sh --slurm``. The cluster is stopped afterwards (by PID) unless it was already up.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from demo_helpers import REPO, Run, copy_repo, run_snakemake

pytestmark = pytest.mark.slurm

SCRIPT = REPO / "scripts" / "slurm-local.sh"
SLURM_TIMEOUT_S = 1800
REL_TOL = 1e-6  # same code, seed and CPU: only thread scheduling could move the last bits of a float


def _script(command: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), command], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def slurm_cluster():
    """A running local cluster; started (and stopped afterwards) here unless it was already running."""
    check = _script("check")
    if check.returncode == 3:
        pytest.skip(check.stderr.strip().splitlines()[-1])
    assert check.returncode == 0, check.stderr
    already_up = _script("status").returncode == 0
    if not already_up:
        start = _script("start")
        if start.returncode == 3:
            pytest.skip(start.stderr.strip().splitlines()[-1])
        assert start.returncode == 0, f"scripts/slurm-local.sh start failed:\n{start.stderr}"
    try:
        yield
    finally:
        if not already_up:
            stop = _script("stop", timeout=300)
            assert stop.returncode == 0, f"scripts/slurm-local.sh stop failed:\n{stop.stderr}"


# --- what Snakemake asked for and what SLURM granted --------------------------------------------------------
JOB_BLOCK = re.compile(r"^(local)?rule (\S+):\n((?:    .*\n)+)", re.MULTILINE)
SUBMITTED = re.compile(r"^Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (.+)\)\.$", re.MULTILINE)


def planned_jobs(log: str) -> dict[int, dict]:
    """Snakemake job id -> {rule, local, threads, resources} from the job blocks of a Snakemake log."""
    jobs = {}
    for local, rule, body in JOB_BLOCK.findall(log):
        fields = dict(line.strip().split(": ", 1) for line in body.splitlines() if ": " in line)
        if "jobid" not in fields:
            continue
        resources = {}
        for item in fields.get("resources", "").split(", "):
            if "=" in item:
                key, value = item.split("=", 1)
                resources[key] = int(value) if value.isdigit() else value
        jobs[int(fields["jobid"])] = {
            "rule": rule,
            "local": bool(local),
            "input": [i for i in fields.get("input", "").split(", ") if i],
            "output": [o for o in fields.get("output", "").split(", ") if o],
            "threads": int(fields.get("threads", 1)),
            "resources": resources,
        }
    return jobs


def scontrol_job(slurm_id: str) -> dict[str, str]:
    """``scontrol -o -d show job ID`` as a dict (first occurrence of each key: later free text cannot shadow)."""
    out = subprocess.run(
        ["scontrol", "-o", "-d", "show", "job", slurm_id], capture_output=True, text=True, timeout=60
    ).stdout
    fields: dict[str, str] = {}
    for token in out.split():
        if "=" in token:
            key, value = token.split("=", 1)
            fields.setdefault(key, value)
    return fields


def megabytes(text: str) -> int:
    number, unit = float(text[:-1]), text[-1]
    return round(number * {"M": 1, "G": 1024, "T": 1024 * 1024}[unit])


def minutes(limit: str) -> int:
    days, _, clock = limit.rpartition("-")
    h, m, s = (int(x) for x in clock.split(":"))
    return (int(days) if days else 0) * 1440 + h * 60 + m + (1 if s else 0)


def default_partition() -> str:
    names = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=60).stdout.split()
    return next(n.rstrip("*") for n in names if n.endswith("*"))


def slice_targets(planned: dict[int, dict]) -> list[str]:
    """Targets that run every rule asking for a GPU (the training rules) and the dataset table (download as a
    local rule, conversion, simulation upstream) at least once, with few jobs: each job pays seconds of
    submission and start-up on SLURM, and the whole demo is ~200 jobs. Greedy on the dry run's DAG: the rule
    with the deepest jobs first, its job with the smallest upstream; rules already upstream are covered."""
    producer = {out: job_id for job_id, job in planned.items() for out in job["output"]}
    upstream_cache: dict[int, set[int]] = {}

    def upstream(job_id: int) -> set[int]:
        if job_id not in upstream_cache:
            found = {job_id}
            for path in planned[job_id]["input"]:
                if path in producer:
                    found |= upstream(producer[path])
            upstream_cache[job_id] = found
        return upstream_cache[job_id]

    def wanted(job: dict) -> bool:
        return job["output"] and (int(job["resources"].get("gpu", 0)) > 0 or job["rule"] == "dataset_table")

    candidates = sorted((j for j in planned if wanted(planned[j])), key=lambda j: (-len(upstream(j)), j))
    covered: set[str] = set()
    targets = []
    for job_id in candidates:
        rule = planned[job_id]["rule"]
        if rule in covered:
            continue
        best = min((j for j in candidates if planned[j]["rule"] == rule), key=lambda j: (len(upstream(j)), j))
        targets.append(planned[best]["output"][0])
        covered |= {planned[u]["rule"] for u in upstream(best)}
    return sorted(targets)


@pytest.fixture(scope="module")
def demo_slice(tmp_path_factory) -> list[str]:
    """The demo targets the SLURM test builds (from a dry run of the demo DAG with the CI profile)."""
    repo = copy_repo(tmp_path_factory.mktemp("demo-plan") / "repo")
    dry = run_snakemake(repo, "-n", "--profile", "profiles/slurm-ci", timeout=600, log_name="snakemake-dryrun.log")
    dry.check()
    targets = slice_targets(planned_jobs(dry.log))
    assert targets, "the demo DAG has no job to run on SLURM"
    return targets


@pytest.fixture(scope="module")
def local_run(demo_slice, tmp_path_factory) -> Run:
    """The same targets on this machine, without SLURM (--profile profiles/demo): the reference."""
    repo = copy_repo(tmp_path_factory.mktemp("demo-local-slice") / "repo")
    run = run_snakemake(repo, "--profile", "profiles/demo", *demo_slice, timeout=SLURM_TIMEOUT_S, log_name="snakemake-local.log")
    run.check()
    return run


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, demo_slice, tmp_path_factory):
    """The demo targets through the SLURM executor in a fresh copy of the repo, and every job's SLURM record."""
    repo = copy_repo(tmp_path_factory.mktemp("demo-slurm") / "repo")
    run = run_snakemake(
        repo, "--profile", "profiles/slurm-ci", *demo_slice, timeout=SLURM_TIMEOUT_S, log_name="snakemake-slurm.log"
    )
    uuid = re.search(r"SLURM run ID: (\S+)", run.log)
    try:
        run.check()
        planned = planned_jobs(run.log)
        submitted = {int(job): slurm_id for job, slurm_id, _ in SUBMITTED.findall(run.log)}
        jobs = []
        for job_id, slurm_id in submitted.items():
            assert job_id in planned, f"no job block for Snakemake job {job_id} in the log"
            jobs.append({**planned[job_id], "slurm_id": slurm_id, "slurm": scontrol_job(slurm_id)})
        yield {"run": run, "planned": planned, "jobs": jobs, "default_partition": default_partition()}
    finally:
        if uuid:  # a timed-out or failed run leaves no job of ours behind on the cluster
            subprocess.run(["scancel", "--name", uuid.group(1)], capture_output=True, timeout=60)


def test_demo_runs_through_sbatch_except_local_rules(slurm_run):
    planned, jobs = slurm_run["planned"], slurm_run["jobs"]
    assert jobs, "no job was submitted to SLURM"
    remote_rules = {j["rule"] for j in jobs}
    for job_id, job in planned.items():
        if job["rule"] == "all" or job["output"] == []:
            continue
        if job["local"]:
            assert job["rule"] not in remote_rules, f"local rule {job['rule']} was submitted to SLURM"
    submitted_ids = {j["slurm_id"] for j in jobs}
    expected = {k for k, j in planned.items() if not j["local"] and j["rule"] != "all"}
    assert len(submitted_ids) == len(expected), "every non-local job is one sbatch submission"
    for job in jobs:
        state = job["slurm"]
        assert state.get("JobState") == "COMPLETED" and state.get("ExitCode") == "0:0", (job["rule"], state)
        assert state.get("Comment", "").startswith(f"rule_{job['rule']}")


def test_jobs_got_the_partition_cpus_memory_time_and_gpus_they_asked_for(slurm_run):
    for job in slurm_run["jobs"]:
        asked, got, rule = job["resources"], job["slurm"], job["rule"]
        assert got["Partition"] == asked.get("slurm_partition", slurm_run["default_partition"]), rule
        assert int(got["NumCPUs"]) == job["threads"], rule
        assert megabytes(got["MinMemoryNode"]) == asked["mem_mb"], rule
        assert minutes(got["TimeLimit"]) == asked["runtime"], rule
        gpus = int(asked.get("gpu", 0))
        requested = got.get("TresPerJob", "") + got.get("TresPerNode", "")
        if gpus:
            assert f"gres:gpu:{gpus}" in requested, (rule, requested)
            assert got.get("JOB_GRES") == f"gpu:{gpus}", (rule, got.get("JOB_GRES"))  # granted, not only asked
        else:
            assert "gpu" not in requested, (rule, requested)


def test_training_jobs_ran_with_their_gpus(slurm_run):
    """Every rule that declares a gpu resource (training rules: train_resources()) got that many GPUs, as seen
    from inside the job (run.json records the allocation)."""
    gpu_jobs = {j["slurm_id"]: j for j in slurm_run["jobs"] if int(j["resources"].get("gpu", 0)) > 0}
    assert gpu_jobs, (
        "no job of the demo DAG asked for a GPU: training rules must declare resources: **train_resources() "
        "(profiles/slurm-ci/resources.yaml asks for one GPU per training job)"
    )
    records = {}
    for path in sorted((slurm_run["run"].repo / "results").rglob("run.json")):
        scheduler = json.loads(path.read_text()).get("scheduler", {})
        if "SLURM_JOB_ID" in scheduler:
            records[scheduler["SLURM_JOB_ID"]] = (path, scheduler)
    assert records, "no run record was written inside a SLURM job"
    for slurm_id, job in gpu_jobs.items():
        if slurm_id not in records:
            continue  # a GPU job that writes no run record (e.g. a figure on the GPU) has nothing to check here
        path, seen = records[slurm_id]
        assert seen.get("SLURM_JOB_PARTITION") == job["slurm"]["Partition"], path
        assert seen.get("SLURM_CPUS_PER_TASK") == str(job["threads"]), path
        visible = [d for d in seen.get("CUDA_VISIBLE_DEVICES", "").split(",") if d]
        assert len(visible) == int(job["resources"]["gpu"]), (path, seen)
    assert any(s in records for s in gpu_jobs), "no GPU job wrote a run record"


# --- same results as a local run --------------------------------------------------------------------------
# run.json: wall time, host, scheduler; Snakemake's directory marker; the report (built from these outputs by
# test_report.py, only in the local copy)
SKIP_NAMES = {"run.json", ".snakemake_timestamp", "report.html"}
# tables of measured alignment cost (ERDiff Table 2: wall time per method) differ between any two runs
SKIP_STEMS = {"table2_cost"}


def _close(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return a == b
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12) or (a != a and b != b)


TIMING = re.compile(r"(^|_)(time|wall|cpu_s)(_|$)")  # measured durations (e.g. align_step_time_ms) differ by nature


def _same_json(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(TIMING.search(str(k)) or _same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b))
    return _close(a, b)


def _same_checkpoint(a, b) -> bool:
    """Nested state dicts: tensors equal up to REL_TOL (same dtype and shape), everything else as JSON values."""
    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.is_floating_point() or a.is_complex():
            return torch.allclose(a, b, rtol=REL_TOL, atol=1e-12, equal_nan=True)
        return torch.equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_checkpoint(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_checkpoint(x, y) for x, y in zip(a, b))
    return _close(a, b)


NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _same_text(a: str, b: str) -> bool:
    """Equal text, numbers compared with REL_TOL (tables, scorecard)."""
    if NUMBER.sub("#", a) != NUMBER.sub("#", b):
        return False
    return all(_close(float(x), float(y)) for x, y in zip(NUMBER.findall(a), NUMBER.findall(b)))


def _stable_attrs(ds):
    """A store's attributes without what differs by nature between two runs: a simulated session's NWB file embeds
    its creation time, so the digest of the file read (``source.read``) and the ``fingerprint`` built on it differ;
    a store converted from a recorded file keeps both, and they must match."""
    source = dict(ds.attrs.get("source", {}))
    if "simulator" in source:
        source.pop("read", None)
        ds.attrs.pop("fingerprint", None)
        ds.attrs["source"] = source
    return ds


def _compare_store(a: Path, b: Path) -> None:
    import xarray as xr

    with xr.open_zarr(a) as left, xr.open_zarr(b) as right:
        xr.testing.assert_identical(_stable_attrs(left.load()), _stable_attrs(right.load()))


def _compare_file(a: Path, b: Path) -> None:
    suffix = a.suffix.lower()
    if suffix == ".json":
        assert _same_json(json.loads(a.read_text()), json.loads(b.read_text())), a
    elif suffix in {".csv", ".md", ".tsv", ".txt", ".yaml"}:
        assert _same_text(a.read_text(), b.read_text()), a
    elif suffix == ".png":
        import matplotlib.image as mpimg
        import numpy as np

        assert np.array_equal(mpimg.imread(a), mpimg.imread(b)), a
    elif suffix == ".pt":
        import torch

        assert _same_checkpoint(torch.load(a, weights_only=True), torch.load(b, weights_only=True)), a
    else:  # PDF (creation date inside), NWB (creation time inside), ...: produced and not empty
        assert a.stat().st_size > 0 and b.stat().st_size > 0, a


def outputs(results: Path) -> dict[str, Path]:
    """Output files and session stores under results/, keyed by relative path (logs and Snakemake's benchmark
    files — wall time, memory — excluded: they differ by nature)."""
    found = {}
    for path in sorted(results.rglob("*")):
        rel = path.relative_to(results)
        if rel.parts[0] in {"logs", "benchmarks"} or any(p.endswith(".zarr") for p in rel.parts[:-1]):
            continue
        if path.suffix == ".zarr" or (path.is_file() and path.name not in SKIP_NAMES and path.stem not in SKIP_STEMS):
            found[str(rel)] = path
    return found


def test_results_equal_a_local_run(slurm_run, local_run: Run):
    local = outputs(local_run.repo / "results")
    remote = outputs(slurm_run["run"].repo / "results")
    assert local, "the local demo produced nothing"
    assert sorted(remote) == sorted(local), "the SLURM run produced other files than the local run"
    for rel, path in local.items():
        if path.suffix == ".zarr":
            _compare_store(path, remote[rel])
        else:
            _compare_file(path, remote[rel])


# --- a time limit stops training; Snakemake's retry resumes it ------------------------------------------------
TIME_LIMIT_WORKFLOW = """
rule all:
    input: "results/runs/paced"

rule paced_train:
    output: directory("results/runs/paced")
    log: "results/logs/paced.log"
    threads: 1
    # attempt 1: a 1-minute limit the job cannot meet (>= 2 ms x {steps} steps); the retry gets 10 minutes
    resources: mem_mb=1000, runtime=lambda wildcards, attempt: 1 if attempt == 1 else 10, gpu=1, slurm_partition="gpu"
    shell: "{python} {job} --out {{output}} --steps {steps} --checkpoint-every 1000000 --step-sleep 0.002 2> {{log}}"
"""


def test_time_limit_checkpoints_and_the_retry_resumes(slurm_cluster, tmp_path):
    """SLURM's time limit sends SIGTERM: the job saves its state and exits 75, Snakemake resubmits it (retries),
    and the new job continues from the saved step instead of starting over."""
    steps = 40_000
    (tmp_path / "Snakefile").write_text(
        TIME_LIMIT_WORKFLOW.format(python=sys.executable, job=REPO / "tests" / "unit" / "_resume_job.py", steps=steps)
    )
    profile = yaml.safe_load((REPO / "profiles" / "slurm-ci" / "config.v8+.yaml").read_text())
    profile.pop("configfile")
    profile["retries"] = 1
    (tmp_path / "profile").mkdir()
    (tmp_path / "profile" / "config.v8+.yaml").write_text(yaml.safe_dump(profile))
    run = run_snakemake(tmp_path, "--profile", "profile", timeout=900, log_name="snakemake.log")
    uuid = re.search(r"SLURM run ID: (\S+)", run.log)
    try:
        run.check()
        attempts = [slurm_id for _, slurm_id, _ in SUBMITTED.findall(run.log)]
        assert len(attempts) == 2, f"expected one timed-out and one resumed attempt, got SLURM jobs {attempts}"
        first, second = scontrol_job(attempts[0]), scontrol_job(attempts[1])
        assert first["JobState"] == "TIMEOUT" and minutes(first["TimeLimit"]) == 1, first
        assert second["JobState"] == "COMPLETED" and minutes(second["TimeLimit"]) == 10, second
        record = json.loads((tmp_path / "results" / "runs" / "paced" / "run.json").read_text())
        # no periodic checkpoint in this run: a resume point can only come from the state saved on SIGTERM
        assert 0 < record["resumed_from"] < steps, record
        assert record["scheduler"]["SLURM_JOB_ID"] == attempts[1]
        assert json.loads((tmp_path / "results" / "runs" / "paced" / "metrics.json").read_text())["test_mse"] < 0.05
    finally:
        if uuid:
            subprocess.run(["scancel", "--name", uuid.group(1)], capture_output=True, timeout=60)
