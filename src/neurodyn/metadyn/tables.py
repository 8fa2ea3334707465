"""Few-shot tables and the scorecard fragment of Meta-Dynamical SSMs (Vermani et al., ICLR 2025).

``neurodyn metadyn tables fewshot --manifest JSON --recon-csv … --recon-md … --forecast-csv … --forecast-md …``
    rows experiment × dataset × method × k: mean ± sd over seeds of reconstruction / forecasting r².
``neurodyn metadyn tables scorecard --manifest JSON --out results/scorecard/metadyn.json``
    the paper's figure claims measured here (its numeric tables are not transcribed; see docs/papers.md §3).
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

import numpy as np

from neurodyn.runrecord import read_metrics
from neurodyn.utils.atomic import write_text
from neurodyn.utils.tables import csv_text, md_text, write_tables

KEY = re.compile(r"^(?P<dataset>.+)\.k(?P<k>\d+)\.(?P<metric>recon_r2|forecast_r2)$")


def fewshot_rows(manifest: dict[str, Any], metric: str) -> list[dict[str, Any]]:
    rows = []
    for exp, part in manifest["experiments"].items():
        for variant, runs in part["transfer"].items():
            cells: dict[tuple[str, int], list[float]] = {}
            for run in runs:
                for key, value in read_metrics(run).items():
                    m = KEY.match(key)
                    if m and m["metric"] == metric and value is not None:
                        cells.setdefault((m["dataset"], int(m["k"])), []).append(float(value))
            for (dataset, k), values in sorted(cells.items()):
                v = np.array(values)
                rows.append({
                    "experiment": exp, "pretraining_M": part["M"], "dataset": dataset, "method": variant, "k": k,
                    "mean": round(float(v.mean()), 4), "sd": round(float(v.std(ddof=1)), 4) if len(v) > 1 else 0.0,
                    "n_seeds": len(v),
                })
    return rows


CSV_COLUMNS = ["experiment", "pretraining_M", "dataset", "method", "k", "mean", "sd", "n_seeds"]


def to_csv(rows: list[dict[str, Any]]) -> str:
    return csv_text(CSV_COLUMNS, rows)


def to_md(rows: list[dict[str, Any]], title: str) -> str:
    caption = [f"# {title}", "", "mean ± sd over seeds; methods: meta = hypernetwork (the paper), input = embedding as "
               "dynamics input, shared = no embedding, single = trained on the k trials only"]
    cells = [[r["experiment"], r["pretraining_M"], r["dataset"], r["method"], r["k"], f"{r['mean']:.3f} ± {r['sd']:.3f}", r["n_seeds"]] for r in rows]
    return md_text(["experiment", "M", "dataset", "method", "k", "r²", "seeds"], cells, caption=caption)


def _per_seed(runs: list[str], fn) -> list[float]:
    out = []
    for run in runs:
        value = fn(read_metrics(run))
        if value is not None and np.isfinite(value):
            out.append(float(value))
    return out


def _mean_over(metrics: dict[str, Any], suffix: str) -> float | None:
    vals = [v for k, v in metrics.items() if k.endswith(suffix) and v is not None]
    return float(np.mean(vals)) if vals else None


def _fmt(values: list[float]) -> tuple[float | None, str]:
    if not values:
        return None, ""
    v = np.array(values)
    return round(float(v.mean()), 4), f"±{v.std(ddof=1):.3f}" if len(v) > 1 else ""


def _transfer_at(runs: list[str], k: int, metric: str) -> list[float]:
    """Per seed: the mean over held-out recordings of ``<dataset>.k<k>.<metric>``."""
    return _per_seed(runs, lambda m: _mean_over(m, f".k{k}.{metric}"))


def _row(values: list[float], note: str) -> dict[str, Any]:
    ours, spread = _fmt(values)
    return {"ours": ours, "spread": spread, "note": note if values else f"no runs: {note}"}


def scorecard(manifest: dict[str, Any]) -> dict[str, Any]:
    """Rows keyed as in report/published/metadyn.yaml: the paper's figure claims measured on our runs.

    M-small / M-large rows (m2 / m20) come from the ``few`` / ``many`` experiments, whatever their M (the note
    says which); "few-shot" rows use the smallest configured k, where the claim is made, and every k is in the
    per-k rows and in results/tables/metadyn/fewshot_*.
    """
    rows: dict[str, Any] = {}
    few, many = manifest["few"], manifest["many"]
    k_min, k_max = min(manifest["ks"]), max(manifest["ks"])
    h = manifest["horizon"]
    where = f"{h}-step forecast r² on held-out speeds after few-shot transfer with k={k_max} trials (paper: k=50 steps)"
    for tag, part in (("m2", few), ("m20", many)):
        rows[f"fig2.shared_no_embedding.{tag}.forecast_r2_k50"] = _row(
            _transfer_at(part["transfer"].get("shared", []), k_max, "forecast_r2"), f"M={part['M']}; {where}")
        rows[f"fig3.metadyn.{tag}.forecast_r2_k50"] = _row(
            _transfer_at(part["transfer"].get("meta", []), k_max, "forecast_r2"), f"M={part['M']}; {where}")
    a = _transfer_at(few["transfer"].get("meta", []), k_max, "forecast_r2")
    b = _transfer_at(many["transfer"].get("meta", []), k_max, "forecast_r2")
    rows["fig3.claim.m20_minus_m2.forecast_r2_k50"] = _row(
        [y - x for x, y in zip(a, b)], f"M={many['M']} minus M={few['M']}, per seed; {where}; > 0 supports the claim")
    param = many.get("family_param") or "omega"
    runs = many["train"].get("meta", [])
    speed = _per_seed(runs, lambda m: m.get(f"learned_speed_spearman_{param}"))
    rows["fig3.claim.embedding_orders_omega"] = _row(
        [abs(x) for x in _per_seed(runs, lambda m: m.get(f"embedding_spearman_{param}"))],
        f"|Spearman(e, {param})| over the M={many['M']} pretraining datasets (1 = e orders them); Spearman(|learned "
        f"rotation speed|, {param}) {np.mean(speed) if speed else float('nan'):.3f}")
    bif = manifest.get("bif") or {"train": {}, "M": 0}
    for metric, key in (("recon_r2", "reconstruction_r2"), ("forecast_r2", "forecast_r2")):
        rows[f"fig4.bifurcation.{key}"] = _row(
            _per_seed(bif["train"].get("meta", []), lambda m, metric=metric: _mean_over(m, f".{metric}")),
            f"mean over the M={bif['M']} pretraining datasets' test trials ({h}-step forecast)" if metric == "forecast_r2"
            else f"mean over the M={bif['M']} pretraining datasets' test trials")
    names = {"meta": "metadyn", "single": "single_dataset", "shared": "shared_no_embedding"}
    for family, part in (("limit_cycle", many), ("motor", manifest.get("motor") or {"transfer": {}})):
        transfer = part["transfer"]
        scores = {v: _transfer_at(transfer.get(v, []), k_min, "forecast_r2") for v in names}
        note = f"held-out recordings, k={k_min} trials"
        rows[f"fewshot.{family}.metadyn.reconstruction_r2"] = _row(_transfer_at(transfer.get("meta", []), k_min, "recon_r2"), note)
        for v, name in names.items():
            rows[f"fewshot.{family}.{name}.forecast_r2"] = _row(scores[v], note)
        baselines = [scores[v] for v in ("single", "shared") if scores[v]]
        margin = [m - max(bl) for m, *bl in zip(scores["meta"], *baselines)] if baselines else []
        rows[f"fewshot.{family}.claim.metadyn_minus_best_baseline.forecast_r2"] = _row(
            margin, f"{note}; per seed, meta minus the better of single-dataset and shared; > 0 supports the claim")
        for k in manifest["ks"]:
            a = _transfer_at(transfer.get("meta", []), k, "forecast_r2")
            b = _transfer_at(transfer.get("single", []), k, "forecast_r2")
            rows[f"fewshot.{family}.claim.metadyn_minus_single.k{k}.forecast_r2"] = _row(
                [x - y for x, y in zip(a, b)],
                f"k={k}: meta {np.mean(a) if a else float('nan'):.3f} vs single-dataset {np.mean(b) if b else float('nan'):.3f}")
        if family == "motor":
            fits = sum(transfer.values(), [])
            rows["check.motor.mean_rate_collapse"] = {
                "ours": sum(_per_seed(fits, lambda m: m.get("collapsed_fits"))) if fits else None,
                "note": "few-shot fits flagged as mean-rate collapse (recon r² ≤ mean-rate r² + margin)" if fits
                        else "no motor-cortex recordings configured"}
    return {"rows": rows}


FEWSHOT_OUTPUTS = ["recon_csv", "recon_md", "forecast_csv", "forecast_md"]


def main(argv: list[str]) -> int:
    """``fewshot --params MANIFEST --out recon_csv=.. recon_md=.. forecast_csv=.. forecast_md=..`` or ``scorecard
    --params MANIFEST --out JSON``. The manifest (neurodyn.metadyn.plan) names the run records of every panel: it is
    the job's inputs and their roles in one structure, so these commands take no --inputs."""
    from neurodyn.utils.jobargs import add_job_arguments, parse_job_args

    parser = argparse.ArgumentParser(prog="neurodyn metadyn tables", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="which", required=True)
    manifest_help = "the manifest (run records per experiment, variant and seed) as JSON"
    add_job_arguments(sub.add_parser("fewshot", help="few-shot reconstruction and forecasting tables"), params=manifest_help,
                      outputs=FEWSHOT_OUTPUTS)
    add_job_arguments(sub.add_parser("scorecard", help="the scorecard fragment"), params=manifest_help,
                      out_help="the scorecard fragment (JSON)")
    args = parse_job_args(parser, argv)
    manifest = args.params
    if args.which == "fewshot":
        out = args.out
        for metric, c, m, title in (("recon_r2", out["recon_csv"], out["recon_md"], "Few-shot reconstruction r²"),
                                    ("forecast_r2", out["forecast_csv"], out["forecast_md"], "Few-shot forecasting r²")):
            rows = fewshot_rows(manifest, metric)
            write_tables({c: to_csv(rows), m: to_md(rows, title)})
    else:
        write_text(args.out, json.dumps(scorecard(manifest), indent=2, sort_keys=True))
    return 0
