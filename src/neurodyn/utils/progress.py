"""Progress that suits where it runs: a live bar in a terminal, compact periodic lines in batch logs.

SLURM and Snakemake logs are not terminals: there one short line is printed when the job starts, then at most
one every ``every_s`` seconds, and one at the end — a day-long training run leaves a few thousand lines, not a
progress-bar redraw per step. In an interactive terminal a ``rich`` bar is drawn on the same stream and removed
when done. ``NEURODYN_PROGRESS_EVERY_S`` changes the interval of the batch lines.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TextIO


def _default_every_s() -> float:
    try:
        return float(os.environ.get("NEURODYN_PROGRESS_EVERY_S", "30"))
    except ValueError:
        return 30.0


class Progress:
    """``update(step, **values)`` after each step; ``close()`` at the end (also after an exception)."""

    def __init__(
        self,
        total: int,
        label: str,
        *,
        start: int = 0,
        every_s: float | None = None,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.total, self.label = total, label
        self.every_s = _default_every_s() if every_s is None else every_s
        self.stream = stream or sys.stderr
        self.clock = clock
        self.start = self.step = start
        self.t0 = clock()
        self.last: float | None = None  # time of the last printed line; None: nothing printed yet
        self._bar = None
        if _is_tty(self.stream):
            from rich.console import Console
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(console=Console(file=self.stream), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(label, total=total, completed=start)

    def update(self, step: int, **values: float) -> None:
        self.step = step
        text = " ".join(f"{k}={v:.4g}" for k, v in values.items())
        if self._bar is not None:
            self._bar.update(self._task, completed=step, description=f"{self.label} {text}")
            return
        now = self.clock()
        if self.last is None or now - self.last >= self.every_s or step >= self.total:
            self.last = now
            rate = (step - self.start) / max(now - self.t0, 1e-9)  # steps done by this process only
            parts = [f"[{self.label}] step {step}/{self.total}", text, f"({rate:.1f} steps/s)"]
            print(" ".join(p for p in parts if p), file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _is_tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or file-like without isatty
        return False
