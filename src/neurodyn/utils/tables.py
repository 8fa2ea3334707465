"""The one table writer: rows -> Markdown and CSV text, written atomically.

Every table target of the pipeline (the three papers' tables, the data overview, the scorecard) is rendered
here, so they share one CSV dialect (``,``, minimal quoting, ``\\n`` line ends) and one Markdown form (a caption,
then a pipe table whose cells have ``|`` escaped and newlines folded). What a cell *says* — how many decimals,
what a missing value looks like — stays with each paper's formatter; this module only lays cells out.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from neurodyn.utils.atomic import atomic_path

Cell = Callable[[Any], str]


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _values(row: Mapping[str, Any] | Sequence[Any], columns: Sequence[str]) -> list[Any]:
    """A row's cells in column order: a mapping by key (missing -> None), a sequence as it is."""
    return [row.get(c) for c in columns] if isinstance(row, Mapping) else list(row)


def csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, Any] | Sequence[Any]], cell: Cell = _text) -> str:
    """CSV with a header row; a row is a mapping (missing keys -> "") or a sequence in column order."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(v) for v in _values(row, columns)])
    return buf.getvalue()


def md_lines(columns: Sequence[str], rows: Iterable[Mapping[str, Any] | Sequence[Any]], cell: Cell = _text,
             align: Sequence[str] | None = None) -> list[str]:
    """A Markdown pipe table as lines; ``align`` per column: "l" (default) or "r"."""
    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    seps = ["--:" if a == "r" else "---" for a in (align or ["l"] * len(columns))]
    lines = ["| " + " | ".join(esc(c) for c in columns) + " |", "|" + "".join(s + "|" for s in seps)]
    for row in rows:
        lines.append("| " + " | ".join(esc(cell(v)) for v in _values(row, columns)) + " |")
    return lines


def md_text(columns: Sequence[str], rows: Iterable[Mapping[str, Any] | Sequence[Any]], cell: Cell = _text,
            caption: str | Sequence[str] = "", align: Sequence[str] | None = None) -> str:
    """The caption (one paragraph, or its lines; none if empty), a blank line, the table; ends with a newline."""
    head = ([caption] if caption else []) if isinstance(caption, str) else list(caption)
    return "\n".join((head + [""] if head else []) + md_lines(columns, rows, cell, align)) + "\n"


def write_tables(outputs: Mapping[str | os.PathLike, str]) -> None:
    """Write every {path: text} (a ``None`` path is skipped), each atomically; none is swapped in unless every text
    was written."""
    with contextlib.ExitStack() as stack:
        for path, text in outputs.items():
            if path is not None:
                stack.enter_context(atomic_path(path)).write_text(text, encoding="utf-8")
