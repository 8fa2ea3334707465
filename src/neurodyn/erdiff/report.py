"""Read ERDiff run records into rows for the tables, figures and the scorecard fragment."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from neurodyn.errors import InputError
from neurodyn.runrecord import read_config, read_metrics

LABELS = {
    "oracle": "Oracle (supervised read-in, ceiling)",
    "oracle_matched": "Oracle, source-matched (supervised + KL to the source latents)",
    "no_align": "No alignment (floor)",
    "cycle_gan": "Cycle-GAN",
    "jsdm": "JSDM",
    "sasa": "SASA",
    "dann": "DANN",
    "rdammd": "RDA-MMD",
    "daf": "DAF",
    "erdiff_wo_s": "ERDiff w/o S",
    "erdiff_wo_t": "ERDiff w/o T",
    "erdiff_dsm_only": "ERDiff, DSM only (paper's equation)",
    "erdiff_moment_only": "Moment term only (no prior)",
    "erdiff_no_prior": "ERDiff w/o prior (moment + OT terms)",
    "erdiff_one_stage": "ERDiff, one stage (prior from the first step)",
    "erdiff": "ERDiff",
}
SETTING_LABELS = {"cross_day": "Cross-day", "inter_subject": "Inter-subject", "synthetic": "Synthetic"}


def read_runs(paths: list[str]) -> list[dict]:
    """One dict per run: pair, method, seed, setting and its metrics."""
    rows = []
    for path in paths:
        cfg = read_config(path)
        metrics = read_metrics(path)
        run = json.loads((Path(path) / "run.json").read_text())
        if "method" not in cfg or "pair" not in cfg:
            raise InputError(Path(path) / "config.json", "method", "an ERDiff alignment run record")
        rows.append({"path": str(path), "pair": cfg["pair"], "method": cfg["method"], "setting": cfg.get("setting"),
                     "seed": run["seed"], **metrics})
    return rows


def summarise(values: list[float]) -> tuple[float, float, int]:
    vals = np.asarray([v for v in values if v is not None], dtype=float)
    if not len(vals):
        return float("nan"), float("nan"), 0
    return float(vals.mean()), float(vals.std(ddof=1)) if len(vals) > 1 else 0.0, len(vals)


def fmt(mean: float, sd: float, digits: int = 2) -> str:
    if not np.isfinite(mean):
        return "—"
    return f"{mean:.{digits}f} (±{sd:.{digits}f})"
