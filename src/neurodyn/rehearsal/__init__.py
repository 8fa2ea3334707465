"""The rehearsal of the full reproduction on stand-ins of every DANDI asset (``bash scripts/rehearse.sh``).

- ``standins``: writes a stand-in NWB file for every asset the full configuration downloads, the rehearsal's
  mirror, the overlay that pins them (config ``datasets`` digests) and the lock file of the unpinned ones.
- ``probe``: the ``neurodyn`` launcher of a rehearsal run: runs each command and records its wall time and
  peak memory.
- ``jobs``: the jobs table (``results/rehearsal/jobs.md``): each job's peak memory and wall time beside what
  the SLURM profile requests for it.

A rehearsal is switched on by the config key ``rehearsal.max_steps`` (Snakemake exports it to every job as
``NEURODYN_REHEARSAL_MAX_STEPS``, see workflow/rules/common.smk). While it is set, every optimisation loop
(``neurodyn.loop.fit``) stops after that many steps, so do the Monte-Carlo draws of ERDiff's restart criterion
(``erdiff.align.criterion_draws``), and every figure, table and scorecard row says "rehearsal" (``marker``):
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


# Jobs that cannot finish on a 2-core CPU machine within the rehearsal's budget even with the step cap: their
# cost is not optimisation (capped) but paper-scale inference. scripts/rehearse.sh leaves them out (Snakemake
# --omit-from: they and what depends on them; a rule name or an output) where torch sees no GPU, says so with these
# reasons, and the issue note gives the numbers. REHEARSAL_OMIT overrides the list (empty: run everything).
CPU_OMIT = {
    "dcf_train_neural": (
        "DCF on NLB MC_Maze at paper size, 5 seeds: after its 2 capped steps (~1 s) each run's readouts push all "
        "789 windows x 100 frames (78,900 x 137) through two dopri5 solves of the 4 x 256 MLP flows and roll 197 test "
        "windows 100 steps ahead; alone on a quiet 2-core machine one seed took 479 s wall, 460 CPU-s and 5.2 GB "
        "(2026-12-02), i.e. ~38 CPU-min for the 5 seeds, against a 60 CPU-min budget (30 min x 2 cores) of which the rest of the rehearsal took 50 (with 4 ERDiff restarts; 16 now)"
    ),
    "dcf_train_ball": (
        "DCF on the 28 x 28 rotating ball at paper size (4-level conv U-Nets, 32-256 channels), 2 variants: 2 capped "
        "steps take seconds, then the readouts (dopri5 through the U-Nets for all 500 frames, 10 videos simulated 50 "
        "steps, the rMAE curve over 7 K values) had run 12.8 CPU-min (1.8 GB) without finishing, alone on a quiet "
        "2-core machine (2026-12-02)"
    ),
}
