"""Progress in batch logs: compact lines at a bounded rate (fake clock, no timing); a bar only in a terminal."""

from __future__ import annotations

import io

from neurodyn.utils.progress import Progress


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_batch_log_lines_are_periodic_and_compact():
    stream, clock = io.StringIO(), FakeClock()
    progress = Progress(10_000, "erdiff-vae", every_s=30, stream=stream, clock=clock)
    for step in range(1, 10_001):
        clock.now += 0.5  # 2 steps per simulated second: 5000 s in all
        progress.update(step, loss=1.0 / step, r2=0.5)
    progress.close()
    lines = stream.getvalue().splitlines()
    # the first step, then one line per 30 simulated seconds, then the last step
    assert len(lines) == 1 + 5000 // 30 + 1
    assert lines[0].startswith("[erdiff-vae] step 1/10000 loss=1 r2=0.5")
    assert lines[-1].startswith("[erdiff-vae] step 10000/10000 ")
    assert all(len(line) < 100 and "\r" not in line and "\x1b" not in line for line in lines)
    assert "(2.0 steps/s)" in lines[-1]


def test_resumed_run_reports_its_own_rate():
    stream, clock = io.StringIO(), FakeClock()
    progress = Progress(200, "dcf", start=100, every_s=30, stream=stream, clock=clock)
    clock.now += 10
    progress.update(200, loss=0.1)
    assert stream.getvalue().strip() == "[dcf] step 200/200 loss=0.1 (10.0 steps/s)"


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_a_live_bar_on_the_same_stream():
    stream = FakeTerminal()
    progress = Progress(50, "metadyn", every_s=30, stream=stream)
    for step in range(1, 51):
        progress.update(step, loss=1.0)
    progress.close()
    text = stream.getvalue()
    assert "metadyn" in text and "\x1b[" in text  # drawn with terminal control codes, not log lines
    assert "steps/s)" not in text
