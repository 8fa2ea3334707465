"""The README's first command, inside pytest: the demo DAG end to end with Snakemake, then `--lint`.

Runs in a copy of the tracked files, so the repository's own results/ is never touched. With ../shared/data
present (CI) the demo uses it as its local mirror; without it the demo runs on simulations only.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, shared_data_dir


def _copy_repo(dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for rel in filter(None, files.split("\0")):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    return dest


def _snakemake(cwd: Path, *args: str, timeout: int = 1200) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    repo = _copy_repo(tmp_path_factory.mktemp("demo") / "repo")
    mirror = shared_data_dir()
    extra = ["--config", f"mirror={mirror}"] if mirror else ["--config", "mirror=null"]
    proc = _snakemake(repo, "--profile", "profiles/demo", *extra)
    assert proc.returncode == 0, proc.stderr[-6000:]
    return repo, proc, extra


def test_demo_builds_its_targets(demo_run):
    repo, _proc, _extra = demo_run
    results = repo / "results"
    pdfs = list((results / "figures").rglob("*.pdf"))
    assert pdfs, "the demo rendered no figure"
    for pdf in pdfs:
        assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 1000
        assert pdf.with_suffix(".png").exists()


@pytest.mark.shared_data
def test_demo_uses_the_real_mirror_recording(demo_run, shared_data):
    repo, _proc, _extra = demo_run
    table = (repo / "results" / "tables" / "overview" / "datasets.csv").read_text()
    assert "000140" in table  # the genuine MC_Maze_Small asset went through download -> convert


def test_demo_is_complete_after_one_run(demo_run):
    repo, _proc, extra = demo_run
    proc = _snakemake(repo, "--profile", "profiles/demo", *extra, "-n", "--quiet", "rules")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_lint_is_clean():
    proc = _snakemake(REPO, "--lint", "--cores", "1", timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]


def test_full_reproduction_plans_offline():
    """`snakemake -n --cores all` on the full config plans download and conversion for every NLB asset."""
    proc = _snakemake(REPO, "-n", "--cores", "all", "--quiet", "rules", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    assert counts.get("download_asset", 0) >= 14, proc.stdout
    assert counts.get("convert_session", 0) >= 14, proc.stdout


@pytest.mark.shared_data
def test_demo_runs_erdiff_on_the_real_pair_and_renders_its_table(demo_run, shared_data):
    """The demo's ERDiff share: every Table 1 method over 5 seeds on the bundled M1 pair, numbers in the table."""
    repo, _proc, _extra = demo_run
    import csv

    rows = list(csv.DictReader((repo / "results" / "tables" / "erdiff" / "table1_alignment.csv").open()))
    assert [r["key"] for r in rows] == ["no_align", "cycle_gan", "jsdm", "sasa", "dann", "rdammd", "daf", "erdiff_wo_s", "erdiff_wo_t", "erdiff"]
    for r in rows:
        assert r["Cross-day [m1_bundled] seeds"] == "5" and r["m1_bundled.r2_pct_mean"] not in ("", "nan")
    fragment = json.loads((repo / "results" / "scorecard" / "erdiff.json").read_text())["rows"]
    assert fragment["table1.cross_day.erdiff.r2_pct"]["ours"] is not None
    assert fragment["table1.inter_subject.erdiff.r2_pct"]["ours"] is None  # no second monkey offline: said in the note
