"""End-to-end fixtures. ``demo_run`` (session scope) runs ``snakemake --profile profiles/demo`` once per test
session in a copy of the repository; every test that needs a finished demo (report, SLURM comparison, the demo
test itself) should use it, so the demo runs once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/e2e/demo_helpers.py, shared by the e2e test modules
from demo_helpers import Run, copy_repo, run_snakemake  # noqa: E402


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Run:
    """The demo DAG, run once per session on this machine (``--profile profiles/demo``) in a copy of the repo."""
    repo = copy_repo(tmp_path_factory.mktemp("demo-local") / "repo")
    run = run_snakemake(repo, "--profile", "profiles/demo", timeout=3600, log_name="snakemake-demo.log")
    run.check()
    return run
