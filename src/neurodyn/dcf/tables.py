"""DCF Tables 1–2, cross-seed stability, NLB metrics and the scorecard fragment, from run records only: each
neural job scored its own model (outputs.pt ``scores``); here only comparisons across runs (Wilcoxon against DCF,
cross-seed cosines) are computed.

``neurodyn dcf tables --params JSON --dcf-runs R ... --baseline-runs R ...
[--baseline-seed-runs R ...] [--ball-runs R ...] [--video-runs R ...] --out-dir results/tables/dcf
--scorecard results/scorecard/dcf.json``; without the neural sessions (offline, no mirror) ``--neural-unavailable
REASON`` replaces --dcf-runs / --baseline-runs and every neural row says why.

Writes table1_velocity_r2, table2_rate_r2, stability and nlb_metrics (.csv and .md) into --out-dir. The fragment's
keys are those of src/neurodyn/report/published/dcf.yaml; rows the paper does not have (NLB metrics, the p = 1/3
ball) are extra keys, listed by the scorecard as "no published counterpart".
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurodyn.errors import InputError
from neurodyn.runrecord import read_config, read_metrics
from neurodyn.utils.atomic import write_text
from neurodyn.utils.tables import csv_text, md_text, write_tables
from neurodyn.utils.jobargs import add_job_arguments, parse_job_args

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
    write_tables({out_dir / f"{stem}.csv": csv_text(cols, rows, _csv), out_dir / f"{stem}.md": md_text(cols, rows, _md, caption=caption)})


def _csv(v: Any) -> str:
    if v is None:
        return ""
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _md(v: Any) -> str:
    if v is None:
        return "—"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn dcf tables", description=__doc__.splitlines()[0])
    # inputs: dcf = DCF run records, one per seed (the first is tabulated); baseline_seeds = comparison models refit
    # with further seeds (stability); videos = DCF runs on user-supplied videos. params.neural_unavailable: why the
    # neural sessions cannot be built here (Tables 1-2, stability and NLB rows then say so)
    add_job_arguments(parser, inputs={"dcf": "*", "baselines": "*", "baseline_seeds": "*", "ball": "*", "videos": "*"},
                      params="the dcf.neural and dcf.report config slices as JSON (+ neural_unavailable: REASON)",
                      outputs=["tables", "scorecard"], out_help="tables=FOLDER scorecard=JSON")
    args = parse_job_args(parser, argv)
    cfg, runs = args.params, args.inputs
    out_dir = Path(args.out["tables"])
    if cfg.get("neural_unavailable") is not None:
        card = _unavailable_neural_tables(out_dir, cfg["report"], str(cfg["neural_unavailable"]))
    elif not runs["dcf"]:
        raise InputError("--inputs", "dcf", "DCF's neural run records, or params.neural_unavailable REASON")
    else:
        card = _neural_tables(runs, cfg, out_dir)
    _ball_and_video_rows(card, runs, cfg["report"])
    write_text(args.out["scorecard"], json.dumps({"rows": card}, indent=2, sort_keys=True))
    return 0


TABLE1_CAPTION = ("**Table 1** — {label} linear decoding R² from 3-D latents per held-out window: median (25th, 75th percentile). "
                  "* = significantly worse than DCF (one-sided Wilcoxon signed-rank, Bonferroni, p < 0.05). {scale}. {note}")
RATE_MODELS = ("dcf", "vae", "lfads", "dmd", "pca")  # the models with a rate reconstruction (Table 2)
# the scorecard's per-model rows (keys of report/published/dcf.yaml): table, metric, models
CARD_ROWS = (("table1", "vel_r2", ORDER[:-1]), ("table2", "rate_r2", ("dcf", "vae", "lfads")))


def _unavailable_neural_tables(out_dir: Path, rep: dict[str, Any], reason: str) -> dict[str, dict[str, Any]]:
    """Tables 1-2, stability and NLB metrics when the neural sessions cannot be built (e.g. offline without the
    mirror): every row says why, the scorecard's neural keys are empty with the same reason."""
    absent = rep["absent"]
    why = f"not run here: {reason}"

    def empty(m: str) -> dict[str, Any]:
        return {"method": NAMES[m], "median_r2": None, "q25_r2": None, "q75_r2": None, "n_windows": 0, "p_bonferroni": None,
                "note": absent.get(m, why)}

    _write_table(out_dir, "table1_velocity_r2", [empty(m) for m in ORDER],
                 TABLE1_CAPTION.format(label=rep["behaviour_label"], scale=why, note=rep["caption_note"]))
    _write_table(out_dir, "table2_rate_r2", [empty(m) for m in ORDER if m in RATE_MODELS],
                 f"**Table 2** — firing-rate reconstruction R² per held-out window. {why}. {rep['caption_note']}")
    _write_table(out_dir, "stability", [{"method": NAMES["dcf"], "seed_a": None, "seed_b": None, "cosine": None, "note": why}],
                 f"**Cross-seed stability** — pairwise cosine similarity of sign-aligned latents. {why}. {rep['caption_note']}")
    _write_table(out_dir, "nlb_metrics", [{"method": name, "co_bps": None, "vel_r2": None, "psth_r2": None, "n_test_trials": None, "note": why}
                                          for name in ["spike smoothing"] + [NAMES[m] for m in ORDER]],
                 f"**NLB metrics** (not in the DCF paper). {why}. {rep['caption_note']}")
    card = {f"{table}.{m}.{metric}_median": {"ours": None, "note": absent.get(m, why)} for table, metric, models in CARD_ROWS for m in models}
    card["fig.neural_cross_seed_cosine"] = {"ours": None, "note": why}
    card["nlb.dcf.co_bps_bits_per_spike"] = {"ours": None, "note": f"not in the paper; {why}"}
    return card


def _scores(run: str | Path, out: dict[str, Any]) -> dict[str, Any]:
    if "scores" not in out:
        raise InputError(Path(run) / "outputs.pt", "scores", "a neural run record scored by its own job (neurodyn dcf train / baseline with params.report)")
    return out["scores"]


def _neural_tables(runs: dict[str, list[str]], cfg: dict[str, Any], out_dir: Path) -> dict[str, dict[str, Any]]:
    """Tables 1-2, stability and NLB metrics from the DCF / comparison run records (each job scored its own model:
    outputs.pt ``scores``); returns the scorecard rows. Only the comparisons across runs are computed here."""
    from neurodyn.models.dcf import evaluate as ev

    rep = cfg["report"]
    k = int(rep["n_latents"])
    scores: dict[str, dict[str, Any]] = {}
    seed_latents: dict[str, list[np.ndarray]] = {"dcf": []}
    lat_of: list[tuple[str, str, np.ndarray]] = []  # (run, method, latents (n_windows, T, d)) of every run, for the stability
    for i, run in enumerate(runs["dcf"]):
        out = _outputs(run)
        lat_of.append((run, "dcf", out[rep["dcf_readout"]].numpy()))
        if i == 0:
            scores["dcf"] = _scores(run, out)
    first = scores["dcf"]
    test = np.asarray(first["test_index"])
    row_notes: dict[str, str] = {}
    for run in runs["baselines"]:
        out = _outputs(run)
        method = out["method"]
        scores[method] = _scores(run, out)
        if not np.array_equal(np.asarray(scores[method]["test_index"]), test):
            raise InputError(Path(run) / "outputs.pt", "scores.test_index", f"the held-out windows of {runs['dcf'][0]} (same sessions and data config)")
        if "frames_embedded" in out:  # T-PHATE above its max_frames (neurodyn.models.dcf.embeddings.fit_tphate)
            row_notes[method] = (f"embedded {len(out['frames_embedded'])} of {out['latents'].shape[1]} frames per window "
                                 "(the package's operators are dense N × N), the others interpolated in time")
        if method in rep["stability_baselines"]:
            lat_of.append((run, method, out["latents"].numpy()))
    lat_of += [(run, (out := _outputs(run))["method"], out["latents"].numpy()) for run in runs["baseline_seeds"]]
    for run, method, lat in lat_of:
        if lat.shape[0] <= test.max(initial=-1):
            raise InputError(Path(run) / "outputs.pt", "latents", f"latents of every window of the sessions (> {test.max()})", got=lat.shape[0])
        seed_latents.setdefault(method, []).append(lat[test, :, :k].reshape(-1, k))

    r2_vel = {m: np.asarray(sc["vel_r2_windows"]) for m, sc in scores.items()}
    r2_rate = {m: np.asarray(sc["rate_r2_windows"]) for m, sc in scores.items() if sc["rate_r2_windows"] is not None}
    sig_vel = ev.worse_than_reference(r2_vel["dcf"], {m: v for m, v in r2_vel.items() if m != "dcf"})
    sig_rate = ev.worse_than_reference(r2_rate["dcf"], {m: v for m, v in r2_rate.items() if m != "dcf"})
    n_test, n_train, n_src = first["n_test_windows"], first["n_train_windows"], first["n_test_source_trials"]
    absent = rep["absent"]
    scale = f"{n_test} held-out windows from {n_src} held-out source trial(s); {n_train} training windows"
    note = rep["caption_note"]

    def rows_for(r2: dict[str, np.ndarray], sig: dict[str, dict[str, float]], methods: list[str]) -> list[dict[str, Any]]:
        rows = []
        for m in methods:
            if m in r2:
                s = ev.summarise(r2[m])
                star = "*" if sig.get(m, {}).get("worse") else ""
                rows.append({"method": NAMES[m] + star, "median_r2": s["median"], "q25_r2": s["q25"], "q75_r2": s["q75"], "n_windows": s["n"],
                             "p_bonferroni": sig.get(m, {}).get("p_bonferroni"), "note": row_notes.get(m, "")})
            elif m in absent:
                rows.append({"method": NAMES[m], "median_r2": None, "q25_r2": None, "q75_r2": None, "n_windows": 0, "p_bonferroni": None, "note": absent[m]})
        return rows

    t1 = rows_for(r2_vel, sig_vel, ORDER)
    _write_table(out_dir, "table1_velocity_r2", t1,
                 TABLE1_CAPTION.format(label=rep["behaviour_label"], scale=scale, note=note))
    t2 = rows_for(r2_rate, sig_rate, [m for m in ORDER if m in r2_rate])
    _write_table(out_dir, "table2_rate_r2", t2,
                 f"**Table 2** — firing-rate reconstruction R² per held-out window (DCF: compress with the flow, then generate back; "
                 f"VAE / PCA / DMD: decode their latents; LFADS: its inferred rates) against the {cfg['data']['smooth_ms']} ms-smoothed rates, over (time, unit) "
                 f"relative to each unit's mean within the window (a strict baseline: R² < 0 = worse than that mean; the paper does not state its baseline). "
                 f"DCF's flow is invertible, so its round trip is near 1 by construction. {scale}. {note}")

    # -- cross-seed stability (DCF, and the comparison models refit per seed) -----------------------------------
    stab_rows, stab_summary = [], {}
    for method, lats in seed_latents.items():
        if len(lats) < 2:
            continue
        mat = ev.pairwise_stability(lats)
        iu = np.triu_indices(len(mat), 1)
        pairs = mat[iu]
        stab_summary[method] = {**ev.summarise(pairs), "mean": float(pairs.mean()), "min": float(pairs.min()), "max": float(pairs.max()), "n_seeds": len(lats)}
        stab_rows += [{"method": NAMES[method], "seed_a": int(i), "seed_b": int(j), "cosine": float(mat[i, j])} for i, j in zip(*iu)]
    summary_text = "; ".join(f"{NAMES[m]} over {s['n_seeds']} seeds: mean {s['mean']:.3f}, median {s['median']:.3f} (range {s['min']:.3f}–{s['max']:.3f})"
                             for m, s in stab_summary.items())
    _write_table(out_dir, "stability", stab_rows,
                 f"**Cross-seed stability** — pairwise cosine similarity of sign-aligned latents (DCF: {rep['dcf_readout'].replace('_', ' ')}; "
                 f"first {k} dims of the held-out windows, time-concatenated and centred). {summary_text or 'fewer than 2 seeds: not computed'}. {scale}. {note}")

    # -- NLB metrics of every model's rates (computed by each job; the smoothing reference by DCF's) --------------
    nlb_cfg = rep["nlb"]
    why_not = first["nlb_unavailable"]
    nlb_res: dict[str, dict[str, float]] = {}
    if why_not is None:
        nlb_res = {"smoothing": first["nlb_smoothing"], **{m: scores[m]["nlb"] for m in ORDER if m in scores}}
    nlb_rows = []
    for m in ["smoothing"] + [m for m in ORDER if m in scores]:
        r = nlb_res.get(m, {})
        how = ("reference: smoothed held-in spikes" if m == "smoothing" else
               ("held-in: own reconstruction" if m in r2_rate else "held-in: GLM readout") + f"; {r.get('n_latents_read_out', '?')} latents read out")
        nlb_rows.append({"method": "spike smoothing" if m == "smoothing" else NAMES[m], "co_bps": r.get("co_bps_bits_per_spike"),
                         "vel_r2": r.get("vel_r2"), "psth_r2": r.get("psth_r2"), "n_test_trials": r.get("n_test_trials"),
                         "note": how if r else "not computed (see caption)"})
    _write_table(out_dir, "nlb_metrics", nlb_rows,
                 "**NLB metrics** (not in the DCF paper) — co-bps of held-out units predicted by a Poisson GLM readout from each model's latents "
                 f"(L2 {nlb_cfg['glm_l2']}, fit on training trials), vel R² (ridge from held-in + held-out rates, lag {nlb_cfg['lag_ms']} ms) and "
                 f"psth R² (kernel {nlb_cfg['psth_kernel_sd_ms']} ms) on held-out trials. "
                 + (f"{scale}. {note}" if why_not is None else f"Not computed here: {why_not}. {note}"))

    # -- scorecard fragment (keys: src/neurodyn/report/published/dcf.yaml) ------------------------------------
    measured = f"measured on {scale}; {note}".strip()
    card: dict[str, dict[str, Any]] = {}
    for (table, metric, methods), r2, sig in zip(CARD_ROWS, (r2_vel, r2_rate), (sig_vel, sig_rate)):
        for m in methods:
            key = f"{table}.{m}.{metric}_median"
            if m in r2:
                s = ev.summarise(r2[m])
                star = " (* significantly worse than DCF here)" if sig.get(m, {}).get("worse") else ""
                card[key] = {"ours": round(s["median"], 4), "spread": f"({s['q25']:.3f}, {s['q75']:.3f})", "note": measured + star}
            else:
                card[key] = {"ours": None, "note": absent.get(m, "not run in this configuration")}
    if "dcf" in stab_summary:
        s = stab_summary["dcf"]
        others = "; ".join(f"{NAMES[m]}: mean {v['mean']:.3f}" for m, v in stab_summary.items() if m != "dcf")
        card["fig.neural_cross_seed_cosine"] = {"ours": round(s["mean"], 4), "spread": f"range {s['min']:.3f}–{s['max']:.3f}",
                                                "note": f"mean pairwise sign-aligned cosine of the first {k} DCF latents over {s['n_seeds']} seeds, {scale}"
                                                + (f"; {others}" if others else "") + f". {note}"}
    else:
        card["fig.neural_cross_seed_cosine"] = {"ours": None, "note": "fewer than 2 DCF seeds in this configuration"}
    for m, r in nlb_res.items():
        for metric in ("co_bps_bits_per_spike", "vel_r2", "psth_r2"):
            if metric in r:
                card[f"nlb.{m}.{metric}"] = {"ours": round(r[metric], 4), "note": f"not in the paper: NLB metric of {m} rates (GLM readout), {scale}"}
    if why_not is not None:
        card["nlb.dcf.co_bps_bits_per_spike"] = {"ours": None, "note": f"not in the paper; not computed here: {why_not}"}
    return card


def _ball_and_video_rows(card: dict[str, dict[str, Any]], runs: dict[str, list[str]], rep: dict[str, Any]) -> None:
    """The rotating-ball and user-video scorecard rows (k_eff, rMAE), added to ``card``."""
    for run in runs["ball"]:
        rcfg, met = read_config(run), read_metrics(run)
        p = rcfg["nested_dropout"]["p"]
        ref = rcfg["variant"] == rep["ball_reference_variant"]
        key = "text.ball_p1_50.k_eff" if ref else f"text.ball_p1_{round(1 / p)}.k_eff"
        card[key] = {"ours": met["k_eff"], "note": f"rotating ball, p = {p:.4g}, latent_dim {rcfg['latent_dim']}; {rep['ball_note']}"}
        if ref:
            ks = [int(x[len("rmae_flow_k"):]) for x in met if x.startswith("rmae_flow_k")]
            kmax = max(ks)
            card["fig.ball_compressive_flow_rmae"] = {
                "ours": round(met[f"rmae_flow_k{kmax}"], 4), "spread": f"encoder {met[f'rmae_encoder_k{kmax}']:.3f}",
                "note": f"rMAE Σ|x̂ − x| / Σ|x| of all frames from K = {kmax} latents carried back by the generative flow (the encoder's linear decode in "
                        f"'spread'); p = {p:.4g}; {rep['ball_note']}"}
    video_runs = {read_config(run)["variant"]: run for run in runs["videos"]}
    for name, spec in rep["user_video"].items():
        key = "text.video.k_eff" if name == "mouse" else f"text.{name}.k_eff"
        if name in video_runs:
            card[key] = {"ours": read_metrics(video_runs[name])["k_eff"], "note": f"DCF on the user-supplied {name} frames ({spec['frames']})"}
        elif name == "mouse" or spec["frames"] is not None:
            card[key] = {"ours": None, "note": f"{name}: data not public (the paper's source is unpublished); supply "
                         f"dcf.user_video.{name}.frames (.npy/.npz, (trials, frames, H, W) in [0, 1]) to run it"}
