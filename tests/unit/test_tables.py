"""The one table writer (neurodyn.utils.tables): CSV dialect, Markdown layout, writing both or neither."""

from __future__ import annotations

import csv
import io

import pytest

from neurodyn.utils import tables


def test_csv_round_trips_commas_quotes_and_missing_cells():
    rows = [{"a": "x, y", "b": 'say "hi"'}, {"a": 1.5}, ["seq", None]]
    text = tables.csv_text(["a", "b"], rows)
    assert text.endswith("\n") and "\r" not in text
    assert list(csv.reader(io.StringIO(text))) == [["a", "b"], ["x, y", 'say "hi"'], ["1.5", ""], ["seq", ""]]


def test_markdown_escapes_pipes_folds_newlines_and_aligns():
    text = tables.md_text(["name", "value"], [{"name": "a|b", "value": "1\n2"}], caption="Caption.", align="lr")
    assert text == "Caption.\n\n| name | value |\n|---|--:|\n| a\\|b | 1 2 |\n"
    assert tables.md_text(["x"], [], cell=lambda v: "—") == "| x |\n|---|\n"
    assert tables.md_text(["x"], [[None]], cell=lambda v: "—" if v is None else str(v), caption=["# T", "", "p"]) == "# T\n\np\n\n| x |\n|---|\n| — |\n"


def test_write_tables_writes_every_file_or_none(tmp_path, monkeypatch):
    md, out_csv = tmp_path / "t.md", tmp_path / "t.csv"
    tables.write_tables({md: "m\n", out_csv: "c\n", None: "skipped"})
    assert md.read_text() == "m\n" and out_csv.read_text() == "c\n"

    md2, csv2 = tmp_path / "u.md", tmp_path / "u.csv"
    real = tables.atomic_path
    calls = []

    def failing(path):
        calls.append(path)
        if path == csv2:
            raise OSError("disk full")
        return real(path)

    monkeypatch.setattr(tables, "atomic_path", failing)
    with pytest.raises(OSError):
        tables.write_tables({md2: "m\n", csv2: "c\n"})
    assert calls == [md2, csv2] and not md2.exists() and not csv2.exists()
