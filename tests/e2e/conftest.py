"""End-to-end fixtures. ``demo_run`` (session scope) runs ``snakemake --profile profiles/demo`` once per test
session in a copy of the repository; every test that needs a finished demo (report, SLURM comparison, the demo
test itself) should use it, so the demo runs once."""

from __future__ import annotations

import pytest
from demo_helpers import Run, copy_repo, run_snakemake


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Run:
    """The demo DAG, run once per session on this machine (``--profile profiles/demo``) in a copy of the repo."""
    repo = copy_repo(tmp_path_factory.mktemp("demo-local") / "repo")
    run = run_snakemake(repo, "--profile", "profiles/demo", timeout=3600, log_name="snakemake-demo.log")
    run.check()
    return run
