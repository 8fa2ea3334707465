"""Helpers of the end-to-end tests: run Snakemake in a temporary copy of the repository.

A copy keeps the clone's own ``results/`` and ``.snakemake/`` untouched, and two runs (local, SLURM) apart.
``../shared`` (the local mirror of real recordings) is linked beside the copy when it exists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # tests.conftest: one lookup of ../shared/data for every test
from tests.conftest import shared_data_dir  # noqa: E402


# not copied: version control, environments, downloads, outputs and caches of earlier runs
TOP_LEVEL_SKIP = {".git", ".venv", "data", "results", ".snakemake", ".tests"}


def _ignore(directory: str, names: list[str]) -> set[str]:
    skip = {n for n in names if n in {"__pycache__", ".pytest_cache"} or n.endswith(".egg-info")}
    if Path(directory).resolve() == REPO:
        skip |= TOP_LEVEL_SKIP & set(names)
    return skip


def copy_repo(dest: Path) -> Path:
    """Copy the working tree to ``dest`` (a fresh directory) and link ``dest/../shared/data`` to the real files."""
    shutil.copytree(REPO, dest, ignore=_ignore, symlinks=True)
    data = shared_data_dir()
    if data is not None:
        shared = dest.parent / "shared"
        shared.mkdir(exist_ok=True)
        if not (shared / "data").exists():
            (shared / "data").symlink_to(data.resolve(), target_is_directory=True)
    return dest


def snakemake_env(repo: Path) -> dict[str, str]:
    """The test's interpreter and the copy's sources first; passed on to SLURM jobs (sbatch --export=ALL)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join([str(repo / "src"), env.get("PYTHONPATH", "")])
    return env


@dataclass
class Run:
    repo: Path
    returncode: int
    log: str

    def check(self) -> None:
        assert self.returncode == 0, f"snakemake failed (rc {self.returncode}); end of its log:\n{self.log[-6000:]}"


def run_snakemake(repo: Path, *args: str, timeout: float, log_name: str) -> Run:
    """``python -m snakemake ARGS`` in ``repo``, stdin from /dev/null, output kept in ``repo/<log_name>``."""
    log_path = repo / log_name
    with open(log_path, "w") as log:
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "snakemake", *args],
                cwd=repo,
                env=snakemake_env(repo),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = -1
    text = log_path.read_text(errors="replace")
    if rc == -1:
        text += f"\n[test] snakemake did not finish within {timeout:.0f} s and was killed"
    return Run(repo, rc, text)
