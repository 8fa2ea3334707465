"""The ``neurodyn`` launcher of a rehearsal: run the real command, record its wall time and peak memory.

``neurodyn rehearse probe ARGS...`` (a ``neurodyn`` shim first on PATH execs this, so Snakemake's rules call it
unchanged) runs ``python -m neurodyn ARGS...`` as a child, waits for it with ``os.wait4`` (the child's own
peak resident set size, not this launcher's) and appends one JSON line to ``$NEURODYN_REHEARSAL_JOBS_LOG``:
the command (without long JSON arguments), the job's log file (where its stderr goes: Snakemake's ``log:``),
wall seconds, peak RSS in MB, exit status. SIGTERM / SIGUSR1 / SIGINT are forwarded to the child, so a job
killed by a time limit still checkpoints. With ``$NEURODYN_REHEARSAL_JOB_LIMIT_S`` > 0 a job running longer is
sent SIGTERM (SIGKILL 30 s later) and recorded as stopped at the limit. The exit status is the child's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

ENV_LOG = "NEURODYN_REHEARSAL_JOBS_LOG"
CHILD = ["-m", "neurodyn"]                    # what the probe runs: the real CLI
ENV_LIMIT = "NEURODYN_REHEARSAL_JOB_LIMIT_S"   # > 0: SIGTERM a job after this many seconds (SIGKILL 30 s later)


def short(argv: list[str], limit: int = 120) -> list[str]:
    return [a if len(a) <= limit else a[:40] + "…" for a in argv]


def stderr_target() -> str | None:
    try:
        return os.path.realpath(os.readlink("/proc/self/fd/2"))
    except OSError:
        return None


def main(argv: list[str]) -> int:
    t0 = time.time()
    child = subprocess.Popen([sys.executable, *CHILD, *argv])
    for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT):
        signal.signal(s, lambda signum, _f: child.send_signal(signum))
    limit = float(os.environ.get(ENV_LIMIT, "0") or 0)
    stopped = False
    while True:
        try:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG if limit else 0)
        except InterruptedError:
            continue
        if pid:
            break
        if time.time() - t0 > limit and not stopped:  # the rehearsal's per-job wall limit: stop it, as SLURM would
            child.send_signal(signal.SIGTERM)
            stopped = True
            t_stop = time.time()
        elif stopped and time.time() - t_stop > 30:
            child.kill()
        time.sleep(0.5)
    rc = os.waitstatus_to_exitcode(status)
    record = {"argv": short(argv), "log": stderr_target(), "cwd": os.getcwd(), "start": t0, "wall_s": round(time.time() - t0, 3),
              "max_rss_mb": round(usage.ru_maxrss / 1024.0, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "rc": rc,
              "stopped_at_limit_s": limit if stopped else None}
    path = os.environ.get(ENV_LOG)
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
    return rc
