"""`neurodyn scorecard`: joins the published YAMLs with result fragments; published numbers match PAPERS.md."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import yaml

from neurodyn import cli
from neurodyn.report import scorecard

PUBLISHED = Path(scorecard.__file__).parent / "published"


def _published_rows():
    return {p.stem: yaml.safe_load(p.read_text())["rows"] for p in sorted(PUBLISHED.glob("*.yaml"))}


def _run(tmp_path, fragments, published=PUBLISHED):
    md, out_csv = tmp_path / "out" / "scorecard.md", tmp_path / "out" / "scorecard.csv"
    code = cli.main(["scorecard", "--inputs", f"published={published}", "fragments=", *map(str, fragments),
                     "--out", f"md={md}", f"csv={out_csv}"])
    return code, md, out_csv


def _fragment(tmp_path, name, payload):
    path = tmp_path / "frags" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return path


def test_zero_fragments_lists_every_published_row_as_not_run(tmp_path):
    code, md, out_csv = _run(tmp_path, [])
    assert code == 0
    rows = list(csv.DictReader(out_csv.open()))
    expected = sum(len(r) for r in _published_rows().values())
    assert len(rows) == expected and expected > 80
    assert all(r["note"].startswith(("not run in this configuration", "not transcribed; not run")) for r in rows)
    assert all(r["ours"] == "" and r["gap"] == "" for r in rows)
    text = md.read_text()
    assert f"not run in this configuration: {expected}" in text
    for heading in ("## ERDiff", "## DCF", "## Meta-Dynamical", "## Neural Latents Benchmark"):
        assert heading in text
    null_rows = [r for r in rows if r["published"] == ""]
    assert null_rows and all("not transcribed" in r["note"] for r in null_rows)
    assert "would be reported in results/scorecard/erdiff.json" in text


def test_fragments_join_with_gap_spread_and_notes(tmp_path):
    erdiff = _fragment(tmp_path, "erdiff.json", {"rows": {
        "table1.cross_day.erdiff.r2_pct": {"ours": 12.5, "spread": "±1.10", "note": "5 seeds"},
        "table1.inter_subject.erdiff.rmse": {"ours": None, "note": "the inter-subject pair is not available"},
        "table2.erdiff.params_k": {"ours": 31},
        "extra.latent_dim": {"ours": 8, "note": "what we ran"},
    }})
    metadyn = _fragment(tmp_path, "metadyn_fewshot.json", {"paper": "metadyn", "rows": {
        "fig3.metadyn.m20.forecast_r2_k50": {"ours": 0.71, "note": "k=50 on held-out trials"}}})
    stranger = _fragment(tmp_path, "other.json", {"rows": {"x.y": {"ours": 1.0}}})
    code, md, out_csv = _run(tmp_path, [erdiff, metadyn, stranger])
    assert code == 0
    rows = {(r["paper"], r["key"]): r for r in csv.DictReader(out_csv.open())}
    r = rows[("ERDiff", "table1.cross_day.erdiff.r2_pct")]
    assert float(r["published"]) == 18.81 and float(r["ours"]) == 12.5
    assert float(r["gap"]) == pytest.approx(12.5 - 18.81)
    assert r["published_spread"] == "±2.24" and r["ours_spread"] == "±1.10" and r["note"] == "5 seeds"
    r = rows[("ERDiff", "table1.inter_subject.erdiff.rmse")]
    assert r["ours"] == "" and r["gap"] == "" and r["note"] == "the inter-subject pair is not available"
    assert float(rows[("ERDiff", "table2.erdiff.params_k")]["gap"]) == pytest.approx(3.0)
    assert "no published counterpart" in rows[("ERDiff", "extra.latent_dim")]["note"]
    r = rows[("Meta-dynamical SSM", "fig3.metadyn.m20.forecast_r2_k50")]
    assert r["note"] == "not transcribed; k=50 on held-out trials" and r["gap"] == "" and float(r["ours"]) == 0.71
    assert "no published YAML" in rows[("other", "x.y")]["note"]
    text = md.read_text()
    assert "| ERDiff | Table 1 — cross-day velocity R² (%), ERDiff | 18.81 ±2.24 | 12.50 ±1.10 | -6.31 | 5 seeds |" \
        in text
    assert "Measured here: 3; reported without a value: 1" in text


@pytest.mark.parametrize(
    "payload, field",
    [
        ("{not json", ""),
        ({"values": {}}, "rows"),
        ({"rows": {"k": {"ours": "high"}}}, "rows.k.ours"),
        ({"rows": {"k": 3}}, "rows.k"),
        ({"rows": {"k": {"ours": 1, "note": 5}}}, "rows.k.note"),
    ],
)
def test_bad_fragment_is_one_line_and_writes_nothing(tmp_path, capsys, payload, field):
    bad = _fragment(tmp_path, "erdiff.json", payload)
    code, md, out_csv = _run(tmp_path, [bad])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "erdiff.json" in err
    assert f"erdiff.json: {field}: expected" in err if field else "erdiff.json: expected valid JSON" in err
    assert not md.exists() and not out_csv.exists()


def test_duplicate_and_missing_fragments_are_errors(tmp_path, capsys):
    a = _fragment(tmp_path, "erdiff.json", {"rows": {"k": {"ours": 1}}})
    b = _fragment(tmp_path, "erdiff_again.json", {"paper": "erdiff", "rows": {"k": {"ours": 2}}})
    assert _run(tmp_path, [a, b])[0] == 2
    assert "reported once" in capsys.readouterr().err
    assert _run(tmp_path, [tmp_path / "nope.json"])[0] == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text, field",
    [
        ("paper: P\nrows:\n  - {key: a, what: w, published: fast}\n", "rows[0].published"),
        ("paper: P\nrows:\n  - {key: a, what: w, published: 1}\n  - {key: a, what: w, published: 2}\n", "rows[1].key"),
        ("paper: P\nrows:\n  - {key: a, published: 1}\n", "rows[0].what"),
        ("rows: []\n", "paper"),
        ("paper: P\nrows: {a: 1}\n", "rows"),
    ],
)
def test_bad_published_yaml(tmp_path, capsys, text, field):
    pub = tmp_path / "pub"
    pub.mkdir()
    (pub / "p.yaml").write_text(text)
    code, md, _ = _run(tmp_path, [], published=pub)
    assert code == 2 and f"p.yaml: {field}:" in capsys.readouterr().err and not md.exists()


def test_published_files_document_their_key_scheme():
    for path in sorted(PUBLISHED.glob("*.yaml")):
        text = path.read_text()
        assert "# Key scheme" in text, path
        doc = yaml.safe_load(text)
        assert doc["fragment"] == f"results/scorecard/{path.stem}.json"
        for row in doc["rows"]:
            first = row["key"].split(".")[0]
            assert re.search(rf"#\s+{re.escape(first)}[.<]", text), (path.name, row["key"])
            assert re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", row["key"]), row["key"]


@pytest.mark.shared_data
def test_every_number_of_papers_md_is_transcribed(shared_data):
    """Cross-check the YAMLs against the tables of ../shared/PAPERS.md (a transcription test, not a copy)."""
    papers_md = shared_data.parent / "PAPERS.md"
    if not papers_md.exists():
        pytest.skip(f"{papers_md} not present")
    text = papers_md.read_text().replace("−", "-")
    rows = {stem: {r["key"]: r for r in rs} for stem, rs in _published_rows().items()}
    slug = {"Cycle-GAN": "cycle_gan", "JSDM": "jsdm", "SASA": "sasa", "DANN": "dann", "RDA-MMD": "rda_mmd",
            "DAF": "daf", "ERDiff w/o S": "erdiff_wo_s", "ERDiff w/o T": "erdiff_wo_t", "ERDiff": "erdiff"}
    num = r"(-?\d+\.\d+) \(±(\d+\.\d+)\)"
    found = 0
    for m in re.finditer(rf"^\| ([^|]+?) \| {num} \| {num} \| {num} \| {num} \|$", text, re.M):
        method = slug[m.group(1)]
        for setting, metric, i in (("cross_day", "r2_pct", 2), ("cross_day", "rmse", 4),
                                   ("inter_subject", "r2_pct", 6), ("inter_subject", "rmse", 8)):
            row = rows["erdiff"][f"table1.{setting}.{method}.{metric}"]
            assert row["published"] == float(m.group(i)) and row["spread"] == f"±{m.group(i + 1)}"
            found += 1
    assert found == 36
    t2 = {}
    for label, metric in (("Additional parameters", "params_k"), ("Additional size", "size_kb"),
                          ("Alignment time", "time_ms")):
        cells = re.search(rf"^\| {label} \|(.+)\|$", text, re.M).group(1).split("|")
        for method, cell in zip(["cycle_gan", "jsdm", "sasa", "rda_mmd", "daf", "erdiff"], cells):
            t2[f"table2.{method}.{metric}"] = float(re.match(r"\s*(\d+)", cell).group(1))
    assert {k: rows["erdiff"][k]["published"] for k in t2} == t2
    dcf = {"DCF": "dcf", "VAE": "vae", "MARBLE": "marble", "LFADS": "lfads", "DMD": "dmd", "T-PHATE": "tphate",
           "CEBRA": "cebra"}
    hits = re.findall(r"^\| ([A-Z-]+)\*? \| (-?\d\.\d+) \((-?\d\.\d+), (-?\d\.\d+)\) \|$", text, re.M)
    assert len(hits) == 7
    for name, med, lo, hi in hits:
        row = rows["dcf"][f"table1.{dcf[name]}.vel_r2_median"]
        assert row["published"] == float(med) and row["spread"] == f"({lo}, {hi})"
    for name, med, lo, hi in re.findall(r"(DCF|VAE|LFADS) (\d\.\d+) \((\d\.\d+), (\d\.\d+)\)", text):
        row = rows["dcf"][f"table2.{dcf[name]}.rate_r2_median"]
        assert row["published"] == float(med) and row["spread"] == f"({lo}, {hi})"
    assert "K_eff = 30" in text and rows["dcf"]["text.ball_p1_50.k_eff"]["published"] == 30
    for name, value in re.findall(r"(AutoLFADS|NDT|MINT|STNDT) (0\.\d+)", text):
        assert rows["nlb"][f"leaderboard.mc_maze.{name.lower()}.co_bps"]["published"] == float(value)
    assert all(r["published"] is None for r in rows["metadyn"].values())
