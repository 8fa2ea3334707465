"""NLB metrics of the benchmark's spike-smoothing reference on every NLB train session (incl. DMFC_RSG's tp corr).

``neurodyn evaluate nlb-smoothing --sessions A.zarr ... --params JSON --csv T.csv --md T.md``

The NLB "smoothing" baseline (Pei et al. 2021): held-in spike counts smoothed with a Gaussian kernel
(``smoothing_sd_ms``) are the held-in rates; a Poisson GLM from those smoothed counts (fit on the ``train``
split) gives the held-out rates. Every metric the store supports is then computed by ``neurodyn.metrics.nlb``
on the ``val`` split: co-bps, vel R² (decoding the store's ``<behaviour>_lagged``, i.e. at the benchmark's
lag), psth R² (kernel of the dataset's nlb window) and, for DMFC_RSG (a store with ``trial_tp`` and
``trial_is_eye`` / ``trial_theta`` / ``trial_is_short``), **tp corr** over each trial's set→go bins — which,
with the alignment jitter (``align_jitter_ms``), lie at −jitter − tp … −jitter ms of the window's time axis.

params: ``smoothing_sd_ms``, ``glm_l2``, ``glm_max_iter``, and ``nlb``: {session name: its nlb window} (the
config section ``nlb`` entry of each session). It is a reference, not a model of any paper: the table says so.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from neurodyn.errors import InputError
from neurodyn.utils.jobargs import add_job_arguments, parse_job_args

KEYS = ("smoothing_sd_ms", "glm_l2", "glm_max_iter", "nlb")
COLUMNS = ["session", "dataset", "n_train_trials", "n_eval_trials", "n_heldin_units", "n_heldout_units",
           "co_bps_bits_per_spike", "vel_r2", "psth_r2", "tp_corr"]


def set_go_mask(ds) -> np.ndarray:
    """(trial, time) True on each trial's set→go bins (DMFC_RSG): time in [−jitter − tp, −jitter) ms."""
    t = np.asarray(ds["time"].values, np.float64)
    tp = np.asarray(ds["trial_tp"].values, np.float64)
    jitter = np.asarray(ds["align_jitter_ms"].values, np.float64) if "align_jitter_ms" in ds.coords else np.zeros(len(tp))
    go = -jitter[:, None]
    return (t[None, :] >= go - tp[:, None]) & (t[None, :] < go)


def evaluate_store(ds, window: Mapping[str, Any], cfg: Mapping[str, Any]) -> dict[str, Any]:
    from neurodyn.metrics import nlb
    from neurodyn.metrics.glm import fit_poisson_glm_lbfgs, predict_poisson_glm

    name = str(ds.attrs.get("name", "session"))
    bin_ms = float(ds.attrs["bin_ms"])
    spikes = np.asarray(ds["spikes"].values, np.float64)
    heldout = np.asarray(ds["heldout"].values, bool)
    split = np.asarray(ds["split"].values).astype(str)
    train = split == "train"
    if not heldout.any() or not train.any() or not (split == "val").any():
        raise InputError(name, "heldout/split", "held-out units and train + val trials (an NLB train file)")
    smooth = nlb.gaussian_smooth(spikes[:, :, ~heldout], float(cfg["smoothing_sd_ms"]) / bin_ms, axis=1)
    x = np.nan_to_num(smooth)
    glm = fit_poisson_glm_lbfgs(x[train].reshape(-1, x.shape[-1]), spikes[train][:, :, heldout].reshape(-1, int(heldout.sum())),
                          l2=float(cfg["glm_l2"]), max_iter=int(cfg["glm_max_iter"]))
    rates = np.empty_like(spikes)
    rates[:, :, ~heldout] = np.maximum(x, 0.0)
    rates[:, :, heldout] = predict_poisson_glm(glm, x)
    behaviour = window.get("behaviour")
    lagged = f"{behaviour}_lagged" if behaviour else None
    groups = None
    if "ctr_hold_bump" in (window.get("psth_conditions") or []) and "trial_ctr_hold_bump" in ds.coords:
        groups = "trial_ctr_hold_bump"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = nlb.evaluate_session(ds, rates, train_split="train", eval_split="val",
                                   behaviour=lagged if lagged in ds else None, lag_ms=0.0, decode_groups=groups,
                                   psth_kernel_sd_ms=float(window.get("psth_kernel_sd_ms") or 0) or None)
    if "trial_tp" in ds.coords:
        fields = [f"trial_{f}" for f in nlb.DMFC_CONDITION_FIELDS]
        missing = [f for f in fields if f not in ds.coords]
        if missing:
            raise InputError(name, missing[0], "the DMFC_RSG trial field (config nlb.<dataset>.trial_fields)")
        ev = split == "val"
        cond = np.stack([np.asarray(ds[f].values, np.float64) for f in fields], 1)
        out[nlb.TP_CORR] = nlb.tp_corr(rates[ev], set_go_mask(ds)[ev], cond[ev], np.asarray(ds["trial_tp"].values, np.float64)[ev])
    return {"session": name, "dataset": (ds.attrs.get("nlb") or {}).get("name", ""), **out}


def main(argv: list[str]) -> int:
    from neurodyn.store import open_session
    from neurodyn.utils.atomic import write_text

    parser = argparse.ArgumentParser(prog="neurodyn evaluate nlb-smoothing", description=__doc__.splitlines()[0])
    add_job_arguments(parser, inputs={"sessions": "+"}, params="the nlb-smoothing parameters as JSON", outputs=["csv", "md"])
    args = parse_job_args(parser, argv)
    cfg = args.params
    for key in KEYS:
        if key not in cfg:
            raise InputError("--params", key, f"the nlb-smoothing parameters ({', '.join(KEYS)})")
    rows = []
    for path in args.inputs["sessions"]:
        ds = open_session(path)
        name = str(ds.attrs.get("name"))
        if name not in cfg["nlb"]:
            raise InputError("--params", f"nlb.{name}", "the nlb window of every session evaluated")
        rows.append(evaluate_store(ds, cfg["nlb"][name], cfg))
    fmt = lambda v: "" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))  # noqa: E731
    csv = ",".join(COLUMNS) + "\n" + "".join(",".join(fmt(r.get(c)) for c in COLUMNS) + "\n" for r in rows)
    md = ["# NLB metrics of the spike-smoothing reference (val split)", "",
          f"Held-in counts smoothed with a {cfg['smoothing_sd_ms']} ms Gaussian; held-out rates by a Poisson GLM fit on the train split. "
          "tp corr: DMFC_RSG only (median over (is_eye, theta, is_short) of r(neural speed over set→go, tp)); "
          "vel R²: the benchmark's lagged behaviour; blank = the store cannot support the metric.", "",
          "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    md += ["| " + " | ".join(fmt(r.get(c)) for c in COLUMNS) + " |" for r in rows]
    write_text(args.out["csv"], csv)
    write_text(args.out["md"], "\n".join(md) + "\n")
    return 0
