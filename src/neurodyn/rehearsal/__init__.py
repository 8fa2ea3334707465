"""The rehearsal of the full reproduction on stand-ins of every DANDI asset (``bash scripts/rehearse.sh``).

- ``standins``: writes a stand-in NWB file for every asset the full configuration downloads, the rehearsal's
  mirror, the overlay that pins them (config ``datasets`` digests) and the lock file of the unpinned ones.
- ``probe``: the ``neurodyn`` launcher of a rehearsal run: runs each command and records its wall time and
  peak memory.
- ``jobs``: the jobs table (``results/rehearsal/jobs.md``): each job's peak memory and wall time beside what
  the SLURM profile requests for it.

A rehearsal is switched on by the config key ``rehearsal.max_steps`` (Snakemake exports it to every job as
``NEURODYN_REHEARSAL_MAX_STEPS``, see workflow/rules/common.smk). While it is set, every optimisation loop
(``neurodyn.loop.fit``, CEBRA's) stops after that many steps, so do the Monte-Carlo draws of ERDiff's restart
criterion (``erdiff.align.criterion_draws``), both Poisson GLM fitters' iterations, and DCF's ODE solves (that many
Euler steps per unit of time instead of the configured solver), and every figure, table and scorecard row says "rehearsal" (``marker``):
such outputs are never results.
"""

from __future__ import annotations

import os

ENV_MAX_STEPS = "NEURODYN_REHEARSAL_MAX_STEPS"
LABEL = "REHEARSAL (stand-in data, optimisation capped at {n} step(s)): not a result"


def max_steps() -> int | None:
    """The rehearsal's step cap, or None outside a rehearsal."""
    value = os.environ.get(ENV_MAX_STEPS, "").strip()
    if not value:
        return None
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"{ENV_MAX_STEPS}={value!r}: expected a whole number of steps >= 1") from None
    if n < 1:
        raise ValueError(f"{ENV_MAX_STEPS}={value!r}: expected a whole number of steps >= 1")
    return n


def active() -> bool:
    return max_steps() is not None


def label() -> str:
    return LABEL.format(n=max_steps())


def cap_steps(n_steps: int) -> int:
    """``n_steps`` capped by the rehearsal (unchanged outside one)."""
    cap = max_steps()
    return n_steps if cap is None or not n_steps else min(int(n_steps), cap)


# Jobs that cannot finish on a 2-core CPU machine within the rehearsal's budget even with the step cap.
# scripts/rehearse.sh leaves them out (Snakemake --omit-from: they and what depends on them) where torch sees no
# GPU, says so with their reasons, and REHEARSAL_OMIT overrides the list (empty: run everything). None since
# 2026-12-06: DCF's neural and ball jobs used to be here, their adaptive ODE readouts taking 460 CPU-s per MC_Maze
# seed and over 13 CPU-min per ball variant; the cap now reaches their solves (Euler, `max_steps` evaluations per
# unit of time, neurodyn.models.dcf.model) and the GLM fits that score them (neurodyn.metrics.glm): 70 s and 125 s.
CPU_OMIT: dict[str, str] = {}
