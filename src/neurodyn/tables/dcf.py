"""DCF Tables 1–2, cross-seed stability table and the scorecard fragment, from run records and session stores.

``neurodyn table dcf --params JSON --sessions S.zarr ... --dcf-runs R ... --baseline-runs R ... --ball-runs R ...
--out-dir results/tables/dcf --scorecard results/scorecard/dcf.json``

Writes table1_velocity_r2.{csv,md}, table2_rate_r2.{csv,md}, stability.{csv,md} into --out-dir.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurodyn.config import parse_params
from neurodyn.errors import InputError
from neurodyn.runrecord import read_config, read_metrics
from neurodyn.utils.atomic import write_text

ORDER = ["dcf", "vae", "marble", "lfads", "dmd", "tphate", "cebra", "pca"]
NAMES = {"dcf": "DCF", "vae": "VAE", "marble": "MARBLE", "lfads": "LFADS", "dmd": "DMD", "tphate": "T-PHATE", "cebra": "CEBRA", "pca": "PCA"}


def _outputs(run: str | Path) -> dict[str, Any]:
    path = Path(run) / "outputs.pt"
    if not path.exists():
        raise InputError(path, "", "outputs.pt of a finished DCF run record")
    return torch.load(path, weights_only=True)


def _fmt(s: dict[str, float]) -> str:
    return f"{s['median']:.3f} ({s['q25']:.3f}, {s['q75']:.3f})"


def _write_table(out_dir: Path, stem: str, rows: list[dict[str, Any]], caption: str) -> None:
    cols = list(rows[0]) if rows else []
    csv = ",".join(cols) + "\n" + "".join(",".join(_csv(r[c]) for c in cols) + "\n" for r in rows)
    write_text(out_dir / f"{stem}.csv", csv)
    md = [caption, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(_md(r[c]) for c in cols) + " |" for r in rows]
    write_text(out_dir / f"{stem}.md", "\n".join(md) + "\n")


def _csv(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    text = str(v)
    return f'"{text}"' if "," in text else text


def _md(v: Any) -> str:
    if v is None:
        return "—"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn table dcf", description=__doc__.splitlines()[0])
    parser.add_argument("--params", required=True, help="the dcf.neural and dcf.report config slices as JSON")
    parser.add_argument("--sessions", nargs="+", required=True)
    parser.add_argument("--dcf-runs", nargs="+", required=True, help="DCF run records, one per seed (the first is tabulated)")
    parser.add_argument("--baseline-runs", nargs="*", default=[])
    parser.add_argument("--ball-runs", nargs="*", default=[])
    parser.add_argument("--video-runs", nargs="*", default=[], help="DCF runs on user-supplied videos (mouse, birdsong)")
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--scorecard", required=True)
    args = parser.parse_args(argv)
    cfg = parse_params(args.params)
    from neurodyn.models.dcf import evaluate as ev
    from neurodyn.models.dcf.data import prepare_neural
    from neurodyn.store import open_session

    data = prepare_neural([open_session(p) for p in args.sessions], cfg["data"])
    train, test = data.train, data.test
    n_src = len(set(data.trial[test]))
    rep = cfg["report"]
    latents: dict[str, np.ndarray] = {}
    recon: dict[str, np.ndarray] = {}
    dcf_seed_latents = []
    for i, run in enumerate(args.dcf_runs):
        out = _outputs(run)
        lat = out[rep["dcf_readout"]].numpy()
        if lat.shape[0] != len(data.split):
            raise InputError(run, "outputs.pt", f"latents of the {len(data.split)} windows of these sessions", got=lat.shape[0])
        dcf_seed_latents.append(lat[test, :, : rep["n_latents"]].reshape(-1, rep["n_latents"]))
        if i == 0:
            latents["dcf"], recon["dcf"] = lat, out["reconstruction_hz"].numpy()
    for run in args.baseline_runs:
        out = _outputs(run)
        method = out["method"]
        latents[method] = out["latents"].numpy()
        if "reconstruction_hz" in out:
            recon[method] = out["reconstruction_hz"].numpy()

    r2_vel = {m: ev.decode_velocity(z, data.velocity, train, test, n_latents=rep["n_latents"], alpha=rep["ridge_alpha"]) for m, z in latents.items()}
    r2_rate = {m: ev.window_r2(data.rates[test], r[test]) for m, r in recon.items()}
    sig_vel = ev.worse_than_reference(r2_vel["dcf"], {m: v for m, v in r2_vel.items() if m != "dcf"})
    sig_rate = ev.worse_than_reference(r2_rate["dcf"], {m: v for m, v in r2_rate.items() if m != "dcf"})
    absent = rep["absent"]
    scale = f"{len(test)} held-out windows from {n_src} held-out source trial(s); {len(train)} training windows"
    note = rep["caption_note"]

    def rows_for(r2: dict[str, np.ndarray], sig: dict[str, dict[str, float]], methods: list[str]) -> list[dict[str, Any]]:
        rows = []
        for m in methods:
            if m in r2:
                s = ev.summarise(r2[m])
                star = "*" if sig.get(m, {}).get("worse") else ""
                rows.append({"method": NAMES[m] + star, "median_r2": s["median"], "q25_r2": s["q25"], "q75_r2": s["q75"], "n_windows": s["n"],
                             "p_bonferroni": sig.get(m, {}).get("p_bonferroni"), "note": ""})
            elif m in absent:
                rows.append({"method": NAMES[m], "median_r2": None, "q25_r2": None, "q75_r2": None, "n_windows": 0, "p_bonferroni": None, "note": absent[m]})
        return rows

    out_dir = Path(args.out_dir)
    t1 = rows_for(r2_vel, sig_vel, ORDER)
    _write_table(out_dir, "table1_velocity_r2", t1,
                 f"**Table 1** — {rep['behaviour_label']} linear decoding R² from 3-D latents per held-out window: median (25th, 75th percentile). "
                 f"* = significantly worse than DCF (one-sided Wilcoxon signed-rank, Bonferroni, p < 0.05). {scale}. {note}")
    t2 = rows_for(r2_rate, sig_rate, [m for m in ORDER if m in recon])
    _write_table(out_dir, "table2_rate_r2", t2,
                 f"**Table 2** — firing-rate reconstruction R² per held-out window (DCF: compress with the flow, then generate back; "
                 f"VAE / PCA / DMD: decode their latents; LFADS: its inferred rates) against the {cfg['data']['smooth_ms']} ms-smoothed rates. {scale}. {note}")
    stab = ev.pairwise_stability(dcf_seed_latents)
    iu = np.triu_indices(len(stab), 1)
    pairs = stab[iu]
    rows = [{"seed_a": int(i), "seed_b": int(j), "cosine": float(stab[i, j])} for i, j in zip(*iu)]
    summary = ev.summarise(pairs) if len(pairs) else None
    _write_table(out_dir, "stability", rows,
                 f"**Cross-seed stability** — pairwise cosine similarity of sign-aligned DCF {rep['dcf_readout'].replace('_', ' ')} "
                 f"(first {rep['n_latents']} dims, held-out windows) over {len(args.dcf_runs)} seeds"
                 + (f": median {summary['median']:.3f} (25th {summary['q25']:.3f}, 75th {summary['q75']:.3f}), min {pairs.min():.3f}." if summary else ".")
                 + f" {scale}.")

    # -- scorecard fragment ----------------------------------------------------------------------------------
    measured = f"measured on {scale}; {note}".strip()
    card: dict[str, dict[str, Any]] = {}
    for table, r2, sig in (("table1", r2_vel, sig_vel), ("table2", r2_rate, sig_rate)):
        for m in ORDER:
            if table == "table2" and m not in ("dcf", "vae", "lfads"):
                continue
            if m in r2:
                s = ev.summarise(r2[m])
                star = " (* worse than DCF)" if sig.get(m, {}).get("worse") else ""
                for q in ("median", "q25", "q75"):
                    card[f"{table}.{m}.{q}_r2"] = {"ours": round(s[q], 4), "note": measured + star}
            else:
                reason = absent.get(m, "not part of this table")
                for q in ("median", "q25", "q75"):
                    card[f"{table}.{m}.{q}_r2"] = {"ours": None, "note": reason}
    if summary:
        card["text.stability_dcf_cosine"] = {"ours": round(summary["median"], 4), "spread": f"IQR {summary['q25']:.3f}–{summary['q75']:.3f}",
                                             "note": f"median pairwise sign-aligned cosine over {len(args.dcf_runs)} seeds; paper shows this as a figure"}
    for run in args.ball_runs:
        variant = read_config(run)["variant"]
        k = read_metrics(run)["k_eff"]
        key = "text.k_eff_ball" if variant == rep["ball_reference_variant"] else f"text.k_eff_ball_{variant}"
        card[key] = {"ours": k, "note": f"rotating ball, variant {variant} ({read_config(run)['nested_dropout']['p']:.4g} = p); {rep['ball_note']}"}
    for run in args.video_runs:
        name = read_config(run)["variant"]
        card[f"text.k_eff_{name}"] = {"ours": read_metrics(run)["k_eff"], "note": f"DCF on the user-supplied {name} frames"}
    for name, spec in rep["user_video"].items():
        if spec["frames"] is None:
            card[f"text.k_eff_{name}"] = {"ours": None, "note": f"{name}: data not public (the paper's source is unpublished); supply "
                                          f"dcf.user_video.{name}.frames (.npy/.npz, (trials, frames, H, W) in [0, 1]) to run it"}
    write_text(args.scorecard, json.dumps({"rows": card}, indent=2, sort_keys=True))
    return 0
