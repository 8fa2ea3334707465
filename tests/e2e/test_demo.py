"""The README's first command, inside pytest: the demo DAG end to end with Snakemake, then `--lint` and the
offline plan of the full reproduction.

The demo runs once per test session in a copy of the repository (fixture ``demo_run`` in conftest.py), with
``../shared/data`` linked beside the copy as its local mirror when it exists (CI); without it the demo runs on
simulations only.
"""

from __future__ import annotations

import json

import pytest
from demo_helpers import REPO, run_snakemake


def test_demo_builds_every_target(demo_run):
    results = demo_run.repo / "results"
    pdfs = sorted((results / "figures").rglob("*.pdf"))
    assert pdfs, "the demo rendered no figure"
    for pdf in pdfs:
        assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 1000, pdf
        assert pdf.with_suffix(".png").exists(), pdf
    for paper in ("erdiff", "metadyn", "dcf"):
        assert list((results / "tables" / paper).glob("*.md")), f"no {paper} table"
        rows = json.loads((results / "scorecard" / f"{paper}.json").read_text())["rows"]
        assert rows, f"empty {paper} scorecard fragment"
    scorecard = (results / "scorecard.md").read_text()
    assert "ERDiff" in scorecard and "DCF" in scorecard


@pytest.mark.shared_data
def test_demo_converts_the_real_mirror_recording(demo_run, shared_data):
    table = (demo_run.repo / "results" / "tables" / "overview" / "datasets.csv").read_text()
    assert "000140" in table  # the genuine MC_Maze_Small asset went through download -> convert


def test_demo_is_complete_after_one_run(demo_run):
    run = run_snakemake(demo_run.repo, "--profile", "profiles/demo", "-n", "--quiet", "rules", timeout=600, log_name="dry-run.log")
    run.check()
    assert "Nothing to be done" in run.log


def test_lint_is_clean(tmp_path):
    run = run_snakemake(REPO, "--lint", "--cores", "1", timeout=300, log_name=str(tmp_path / "lint.log"))
    run.check()


def test_full_reproduction_plans_offline(tmp_path):
    """`snakemake -n --cores all` on the full config plans download and conversion for every NLB asset."""
    run = run_snakemake(REPO, "-n", "--cores", "all", "--quiet", "rules", timeout=300, log_name=str(tmp_path / "plan.log"))
    run.check()
    counts = {}
    for line in run.log.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    assert counts.get("download_asset", 0) >= 14, run.log[-3000:]
    assert counts.get("convert_session", 0) >= 14, run.log[-3000:]


@pytest.mark.shared_data
def test_demo_runs_erdiff_on_the_real_pair_and_renders_its_table(demo_run, shared_data):
    """The demo's ERDiff share: every Table 1 row (references, baselines, ablations) over the demo's seeds on the
    bundled M1 pair, numbers in the table."""
    import csv

    repo = demo_run.repo
    rows = list(csv.DictReader((repo / "results" / "tables" / "erdiff" / "table1_alignment.csv").open()))
    assert [r["key"] for r in rows] == ["oracle", "oracle_matched", "no_align", "cycle_gan", "jsdm", "sasa", "dann", "rdammd", "daf", "erdiff_wo_s",
                                        "erdiff_wo_t", "erdiff_dsm_only", "erdiff_moment_only", "erdiff_no_prior", "erdiff"]
    import yaml

    n_seeds = len(yaml.safe_load((repo / "config" / "demo.yaml").read_text())["erdiff"]["seeds"])
    for r in rows:
        assert r["Cross-day [m1_bundled] seeds"] == str(n_seeds) and r["m1_bundled.r2_pct_mean"] not in ("", "nan")
    fragment = json.loads((repo / "results" / "scorecard" / "erdiff.json").read_text())["rows"]
    assert fragment["table1.cross_day.erdiff.r2_pct"]["ours"] is not None
    assert fragment["table1.inter_subject.erdiff.r2_pct"]["ours"] is None  # no second monkey offline: said in the note
