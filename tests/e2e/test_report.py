"""`snakemake --report results/report.html` on the finished demo: every figure and table is in the report,
each with its caption (report() outputs, captions in workflow/report/)."""

from __future__ import annotations

import json
import re

from demo_helpers import run_snakemake


def report_entries(html: str) -> dict[str, dict]:
    """The report's table of results (Snakemake embeds it as ``<script id="results"> var results = {...}``)."""
    match = re.search(r'<script id="results">\s*var results = ', html)
    assert match, "no results table in the report (Snakemake's report layout changed?)"
    entries, _ = json.JSONDecoder().raw_decode(html, match.end())
    return entries


def test_report_collects_every_figure_and_table_with_captions(demo_run):
    repo = demo_run.repo
    run = run_snakemake(
        repo, "--profile", "profiles/demo", "--report", "results/report.html", timeout=900, log_name="snakemake-report.log"
    )
    run.check()
    html = (repo / "results" / "report.html").read_text()
    assert 'src="http' not in html, "the report must be self-contained (readable offline)"
    entries = report_entries(html)
    results = repo / "results"
    wanted = {str(p.relative_to(repo)) for p in results.glob("figures/**/*.pdf")}
    wanted |= {str(p.relative_to(repo)) for p in results.glob("tables/**/*.md")}
    wanted |= {str(p.relative_to(repo)) for p in results.glob("scorecard.md")}
    assert wanted, "the demo produced no figure or table"
    missing = sorted(wanted - set(entries))
    assert not missing, f"figures/tables not in the report (flag them with report(..., caption=...)): {missing}"
    for name, entry in entries.items():
        caption = re.sub(r"<[^>]+>", "", entry.get("caption") or "").strip()
        assert len(caption) > 20, f"{name}: empty or trivial caption"
