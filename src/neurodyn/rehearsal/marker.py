"""Marks on everything a rehearsal renders: no figure, table or scorecard row of one can pass for a result.

Active only while ``NEURODYN_REHEARSAL_MAX_STEPS`` is set (config ``rehearsal.max_steps``; see
``neurodyn.rehearsal``). ``neurodyn.utils.atomic.atomic_path`` calls ``mark_file`` on every output it renames
into place (Markdown gets a banner line, CSV a first column ``rehearsal``), ``install_figure_mark`` makes every
matplotlib figure carry the banner when saved (installed by ``neurodyn.cli`` before a command runs), and the
scorecard notes every row (``neurodyn.report.scorecard``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from neurodyn import rehearsal

CSV_COLUMN = "rehearsal"


def mark_markdown(text: str) -> str:
    banner = f"> **{rehearsal.label()}**"
    return text if text.startswith(banner) else f"{banner}\n\n{text}"


def mark_csv(text: str) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or (rows[0] and rows[0][0] == CSV_COLUMN):
        return text
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([CSV_COLUMN, *rows[0]])
    for row in rows[1:]:
        writer.writerow([f"rehearsal (max_steps {rehearsal.max_steps()})", *row])
    return buf.getvalue()


def mark_file(tmp: Path, final: Path) -> None:
    """Mark a finished Markdown / CSV output (``tmp``, about to become ``final``) when a rehearsal is active."""
    if not rehearsal.active() or not tmp.is_file():
        return
    suffix = final.suffix.lower()
    if suffix == ".md":
        tmp.write_text(mark_markdown(tmp.read_text(encoding="utf-8")), encoding="utf-8")
    elif suffix == ".csv":
        tmp.write_text(mark_csv(tmp.read_text(encoding="utf-8")), encoding="utf-8")


def mark_figure(fig) -> None:
    if getattr(fig, "_neurodyn_rehearsal_mark", False):
        return
    # a diagonal watermark across the whole figure (under nothing, readable everywhere) and the full label in
    # a boxed corner note: the banner must not hide the figure's own title
    size = max(8.0, min(60.0, 3.5 * float(fig.get_figwidth())))  # fits the figure's width at any size
    fig.text(0.5, 0.5, "REHEARSAL — not a result", ha="center", va="center", rotation=25, fontsize=size,
             color="#b00020", alpha=0.18, weight="bold", zorder=1000)
    fig.text(0.998, 0.002, rehearsal.label(), ha="right", va="bottom", fontsize=7, color="#b00020", weight="bold",
             bbox={"facecolor": "white", "edgecolor": "#b00020", "alpha": 0.9, "pad": 2}, zorder=1001)
    fig._neurodyn_rehearsal_mark = True


def install_figure_mark() -> None:
    """Every ``Figure.savefig`` of this process carries the rehearsal banner (no-op outside a rehearsal)."""
    if not rehearsal.active():
        return
    from matplotlib.figure import Figure

    if getattr(Figure.savefig, "_neurodyn_rehearsal", False):
        return
    original = Figure.savefig

    def savefig(self, *args, **kwargs):
        mark_figure(self)
        return original(self, *args, **kwargs)

    savefig._neurodyn_rehearsal = True
    Figure.savefig = savefig
