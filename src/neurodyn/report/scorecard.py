"""Scorecard: every published number beside ours, with the gap.

``neurodyn scorecard --published-dir src/neurodyn/report/published --fragments results/scorecard/*.json
--out results/scorecard.md [--csv results/scorecard.csv]``

Published side: one YAML per paper (``<paper>.yaml``): ``paper`` (citation), ``short`` (column label),
``fragment`` (the file that reports our numbers), optional ``decimals`` (print precision), and ``rows``: each
``key`` (stable id), ``what``, ``published`` (number, or null when not transcribed), optional ``spread`` (text),
``decimals``, ``note``.
Our side: fragments ``{"paper": "<stem>" (optional; default the file stem), "rows": {"<key>": {"ours": number |
null, "spread": text, "note": text}}}`` written by each paper's rule.

Every published row appears exactly once. A row without a fragment entry says "not run in this configuration"
and names the file that would report it; a null published value says "not transcribed"; a fragment row without
a published counterpart is listed too (marked so), so nothing we measured is silently dropped.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from neurodyn.errors import InputError
from neurodyn.utils.tables import csv_text, md_lines, write_tables
from neurodyn.utils.jobargs import add_job_arguments, parse_job_args

COLUMNS = ["paper", "key", "what", "published", "published_spread", "ours", "ours_spread", "gap", "note"]
NOT_RUN = "not run in this configuration"
NOT_TRANSCRIBED = "not transcribed"


@dataclass
class Row:
    paper: str
    key: str
    what: str
    published: float | None
    published_spread: str
    ours: float | None
    ours_spread: str
    note: str
    decimals: int | None
    status: str  # measured | not_run | no_value | extra

    @property
    def gap(self) -> float | None:
        if self.published is None or self.ours is None:
            return None
        return self.ours - self.published


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def load_published(directory: str | os.PathLike) -> list[dict[str, Any]]:
    """Every ``*.yaml`` in ``directory`` (sorted), checked; each gets ``stem`` = its file stem."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(directory, "", "a directory of published-number YAML files")
    papers = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise InputError(path, "", f"valid YAML ({str(err).splitlines()[0]})") from err
        if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
            raise InputError(path, "rows", "a mapping with a list 'rows'")
        if not isinstance(doc.get("paper"), str):
            raise InputError(path, "paper", "the paper's citation as text")
        seen: set[str] = set()
        for i, row in enumerate(doc["rows"]):
            where = f"rows[{i}]"
            if not isinstance(row, dict) or not isinstance(row.get("key"), str) or not row["key"]:
                raise InputError(path, f"{where}.key", "a non-empty text key")
            if row["key"] in seen:
                raise InputError(path, f"{where}.key", "keys unique within the file", got=row["key"])
            seen.add(row["key"])
            if not isinstance(row.get("what"), str):
                raise InputError(path, f"{where}.what", "a description of the number")
            if "published" not in row or not (row["published"] is None or _number(row["published"])):
                raise InputError(path, f"{where}.published", "a number, or null when not transcribed",
                                 got=row.get("published"))
        doc["stem"] = path.stem
        papers.append(doc)
    if not papers:
        raise InputError(directory, "", "at least one published-number YAML file (<paper>.yaml)")
    return papers


def load_fragments(paths: list[str | os.PathLike]) -> dict[str, dict[str, dict[str, Any]]]:
    """paper stem -> key -> {"ours", "spread", "note", "source"}; a key reported twice is an error."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise InputError(path, "", "a scorecard fragment (JSON) written by a paper's rule (no such file)")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InputError(path, "", f"valid JSON ({err})") from err
        if not isinstance(doc, dict) or not isinstance(doc.get("rows"), dict):
            raise InputError(path, "rows", 'an object {"rows": {"<key>": {"ours": ..., "note": ...}}}')
        paper = doc.get("paper", path.stem)
        if not isinstance(paper, str):
            raise InputError(path, "paper", "the stem of the paper's published YAML", got=paper)
        rows = out.setdefault(paper, {})
        for key, entry in doc["rows"].items():
            if not isinstance(entry, dict):
                raise InputError(path, f"rows.{key}", 'an object {"ours": number | null, "spread", "note"}')
            ours = entry.get("ours")
            if isinstance(ours, float) and not math.isfinite(ours):
                ours = None
            if not (ours is None or _number(ours)):
                raise InputError(path, f"rows.{key}.ours", "a number or null", got=ours)
            for field in ("spread", "note"):
                if entry.get(field) is not None and not isinstance(entry[field], str):
                    raise InputError(path, f"rows.{key}.{field}", "text", got=entry[field])
            if key in rows:
                raise InputError(path, f"rows.{key}", f"each key reported once (also in {rows[key]['source']})")
            rows[key] = {"ours": ours, "spread": entry.get("spread") or "", "note": entry.get("note") or "",
                         "source": str(path)}
    return out


def join(papers: list[dict[str, Any]], fragments: dict[str, dict[str, dict[str, Any]]]) -> list[Row]:
    """Published rows in file order, each with our value when a fragment reports it; then unmatched rows."""
    rows: list[Row] = []
    known = {p["stem"] for p in papers}
    for paper in papers:
        stem, label = paper["stem"], str(paper.get("short") or paper["stem"])
        reported = dict(fragments.get(stem, {}))
        target = str(paper.get("fragment") or f"results/scorecard/{stem}.json")
        for spec in paper["rows"]:
            published = spec["published"]
            decimals = spec.get("decimals", paper.get("decimals"))
            notes = []
            entry = reported.pop(spec["key"], None)
            if published is None:
                notes.append(NOT_TRANSCRIBED)
            if entry is None:
                notes.append(f"{NOT_RUN} (would be reported in {spec.get('target', target)})")
                status = "not_run"
                ours, ours_spread = None, ""
            else:
                ours, ours_spread = entry["ours"], entry["spread"]
                status = "measured" if ours is not None else "no_value"
                if entry["note"]:
                    notes.append(entry["note"])
                elif ours is None:
                    notes.append("no value reported (the fragment gives no reason)")
            if spec.get("note"):
                notes.append(str(spec["note"]))
            rows.append(Row(label, spec["key"], spec["what"], published, str(spec.get("spread") or ""), ours,
                            ours_spread, "; ".join(notes), decimals, status))
        for key, entry in sorted(reported.items()):
            rows.append(_extra(label, key, entry, paper.get("decimals")))
    for stem in sorted(set(fragments) - known):
        for key, entry in sorted(fragments[stem].items()):
            rows.append(_extra(stem, key, entry, None, unknown_paper=True))
    return rows


def _extra(label: str, key: str, entry: dict[str, Any], decimals: int | None, *, unknown_paper: bool = False) -> Row:
    why = "no published counterpart" + (" (no published YAML for this paper)" if unknown_paper else "")
    note = "; ".join(n for n in (why, entry["note"]) if n)
    return Row(label, key, key, None, "", entry["ours"], entry["spread"], note, decimals, "extra")


def _fmt(value: float | None, decimals: int | None, *, integer_ok: bool = False) -> str:
    if value is None:
        return ""
    if integer_ok and isinstance(value, int):
        return str(value)
    if decimals is None:
        return f"{value:.4g}"
    return f"{value:.{int(decimals)}f}"


def _with_spread(text: str, spread: str) -> str:
    return f"{text} {spread}".strip() if text else ""


def render(rows: list[Row], papers: list[dict[str, Any]], fragment_paths: list[str]) -> tuple[str, str]:
    """(markdown, csv) of the joined rows."""
    table = []
    for r in rows:
        table.append([r.paper, r.key, r.what, _fmt(r.published, None, integer_ok=True), r.published_spread,
                      "" if r.ours is None else repr(float(r.ours)), r.ours_spread,
                      "" if r.gap is None else repr(float(r.gap)), r.note])
    counts = {s: sum(r.status == s for r in rows) for s in ("measured", "no_value", "not_run", "extra")}
    transcribed = sum(r.published is not None for r in rows if r.status != "extra")
    lines = [
        "# Scorecard: published numbers beside ours",
        "",
        f"{len(rows) - counts['extra']} published rows ({transcribed} with a transcribed number) from "
        f"{len(papers)} papers; {len(fragment_paths)} result fragment(s). "
        f"Measured here: {counts['measured']}; reported without a value: {counts['no_value']}; "
        f"{NOT_RUN}: {counts['not_run']}; our rows without a published counterpart: {counts['extra']}.",
        "",
        "gap = ours − published, where both are numbers. Spreads are as printed by each source "
        "(± s.d. over runs, or (25th, 75th) percentiles).",
    ]
    by_paper: dict[str, list[Row]] = {}
    for r in rows:
        by_paper.setdefault(r.paper, []).append(r)
    citations = {str(p.get("short") or p["stem"]): p["paper"] for p in papers}
    header = ["paper", "what", "published", "ours", "gap", "note"]
    for label, group in by_paper.items():
        lines += ["", f"## {citations.get(label, label)}", ""]
        cells = []
        for r in group:
            cells.append([
                r.paper,
                r.what,
                _with_spread(_fmt(r.published, r.decimals, integer_ok=True), r.published_spread) or "—",
                _with_spread(_fmt(r.ours, r.decimals), r.ours_spread) or "—",
                _fmt(r.gap, r.decimals) or "—",
                r.note,
            ])
        lines += md_lines(header, cells, align="llrrrl")
    return "\n".join(lines) + "\n", csv_text(COLUMNS, table)


def build(published_dir: str | os.PathLike, fragment_paths: list[str], out_md: str | os.PathLike,
          out_csv: str | os.PathLike | None = None) -> list[Row]:
    papers = load_published(published_dir)
    fragments = load_fragments(fragment_paths)
    rows = join(papers, fragments)
    from neurodyn import rehearsal

    if rehearsal.active():  # every row of a rehearsal's scorecard says it is one
        for r in rows:
            r.note = f"REHEARSAL (stand-ins, max_steps {rehearsal.max_steps()}); {r.note}" if r.note else f"REHEARSAL (stand-ins, max_steps {rehearsal.max_steps()})"
    md, csv_out = render(rows, papers, fragment_paths)
    write_tables({out_md: md, out_csv: csv_out})
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn scorecard", description=__doc__.splitlines()[0])
    # inputs: published = the directory of <paper>.yaml published numbers; fragments = ours, results/scorecard/<paper>.json
    add_job_arguments(parser, inputs={"published": "1", "fragments": "*"}, params=False, outputs=["md", "csv?"])
    args = parse_job_args(parser, argv)
    build(args.inputs["published"], list(args.inputs["fragments"]), args.out["md"], args.out["csv"])
    return 0
