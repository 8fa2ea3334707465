"""Progress that suits where it runs: a live bar in a terminal, compact periodic lines in batch logs.

SLURM and Snakemake logs are not terminals; there a line is printed at most every ``every_s`` seconds
(and at the end), so logs stay short.
"""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, label: str, *, start: int = 0, every_s: float = 30.0, stream=None):
        self.total, self.label, self.every_s = total, label, every_s
        self.stream = stream or sys.stderr
        self.step = start
        self.t0 = self.last = time.monotonic()
        self._bar = None
        if self.stream.isatty():
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(transient=True)
            self._bar.start()
            self._task = self._bar.add_task(label, total=total, completed=start)

    def update(self, step: int, **values: float) -> None:
        self.step = step
        text = " ".join(f"{k}={v:.4g}" for k, v in values.items())
        if self._bar is not None:
            self._bar.update(self._task, completed=step, description=f"{self.label} {text}")
            return
        now = time.monotonic()
        if now - self.last >= self.every_s or step >= self.total:
            self.last = now
            rate = step / max(now - self.t0, 1e-9)
            print(f"[{self.label}] step {step}/{self.total} {text} ({rate:.1f} steps/s)", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
