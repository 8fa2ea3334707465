"""ERDiff's figures (Wang et al., NeurIPS 2023), drawn from the experiment jobs' run records.

- ``synthetic``: ERDiff Fig. 3: synthetic NLL / KLD per method and true source dynamics vs target latents aligned by ERDiff and JSDM.
- ``latents-figure``: ERDiff Fig. 4: 3-D trial-averaged latents per reach direction — source vs target aligned by ERDiff, DAF, JSDM.
- ``robustness-figure``: ERDiff Fig. 2: held-out R² of ERDiff vs a baseline over latent dimension and diffusion noise scale (seeds).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from neurodyn.erdiff.report import LABELS, fmt, read_runs, summarise
from neurodyn.models.erdiff.runner import read_checkpoint
from neurodyn.utils.figures import pyplot, save_figure
from neurodyn.utils.tables import csv_text, md_text, write_tables
from neurodyn.utils.jobargs import add_job_arguments, parse_job_args


SYNTHETIC_DOC = """ERDiff Fig. 3: synthetic NLL / KLD per method and true source dynamics vs target latents aligned by ERDiff and JSDM."""


def synthetic(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn erdiff synthetic", description=SYNTHETIC_DOC)
    add_job_arguments(parser, inputs={"runs": "*", "sources": "*"},
                      params="the table spec as JSON, with sim: the generator params of the target session",
                      outputs=["csv", "md", "pdf", "png"])
    args = parse_job_args(parser, argv)
    plt = pyplot()

    from neurodyn.models.erdiff.metrics import synthetic_scoring
    from neurodyn.simulate.erdiff_bernoulli import DEFAULTS, dynamics_step, fixed_points

    spec = args.params
    sim = {**DEFAULTS, **(spec.get("sim") or {})}
    runs = read_runs(args.inputs["runs"])
    rows = []
    for method in [m for m in spec["methods"] if m not in ("oracle", "oracle_matched")]:  # the synthetic pair has no behaviour to regress
        sel = [r for r in runs if r["method"] == method]
        nll = summarise([r.get("test_nll_nats") for r in sel])
        kld = summarise([r.get("test_kld_nats") for r in sel])
        rows.append({"key": method, "method": LABELS.get(method, method), "NLL (nats/trial)": fmt(nll[0], nll[1]),
                     "KLD (nats)": fmt(kld[0], kld[1]), "seeds": nll[2], "nll_mean": nll[0], "nll_sd": nll[1], "kld_mean": kld[0], "kld_sd": kld[1]})
    preface = ("ERDiff synthetic experiment (Fig. 3A). Target test latents, mapped to the true latent space by an affine map "
               "fitted on SOURCE trials only, scored by the trial-average NLL under the true dynamics and the KL divergence "
               "to the true source latent distribution (Gaussian moment fits). Lower is better. Mean (± sd) over seeds.")
    write_tables({args.out["csv"]: csv_text(["key", "method", "NLL (nats/trial)", "KLD (nats)", "seeds", "nll_mean", "nll_sd", "kld_mean", "kld_sd"], rows),
                  args.out["md"]: md_text(["method", "NLL (nats/trial)", "KLD (nats)", "seeds"], rows, caption=preface)})

    fig, axes = plt.subplots(1, 5, figsize=(22, 4.2))
    names = [r["method"] for r in rows]
    for ax, key, title in ((axes[0], "nll", "NLL ↓"), (axes[1], "kld", "KLD ↓")):
        ax.barh(names, [r[f"{key}_mean"] for r in rows], xerr=[r[f"{key}_sd"] for r in rows], color="tab:gray")
        ax.set_title(f"(A) {title}")
    fps = fixed_points(sim)
    grid = np.linspace(-2, 2, 15)
    gx, gy = np.meshgrid(grid, grid)
    pts = np.stack([gx, gy], -1)
    flow = dynamics_step(pts, sim) - pts
    first_seed = {}
    for r in runs:
        first_seed.setdefault(r["method"], r)
    source_by_dir = {str(Path(s).parent): s for s in args.inputs["sources"]}
    panels = [("True source dynamics", None), ("Aligned by ERDiff", "erdiff"), ("Aligned by JSDM", "jsdm")]
    for ax, (title, method) in zip(axes[2:], panels):
        ax.quiver(gx, gy, flow[..., 0], flow[..., 1], color="0.75", angles="xy")
        if method is None:
            src = source_by_dir and read_checkpoint(Path(next(iter(source_by_dir.values()))) / "latents.pt")
            traj = src["true_latents"].numpy()[:40] if src and src["true_latents"] is not None else np.empty((0, 2, 2))
        elif method in first_seed:
            run = first_seed[method]
            src = read_checkpoint(Path(source_by_dir[str(Path(run["path"]).parent)]) / "latents.pt")
            from neurodyn.models.erdiff.metrics import apply_affine

            amap, _ = synthetic_scoring(src, sim)
            traj = apply_affine(amap, read_checkpoint(Path(run["path"]) / "aligned.pt")["test_latents"].numpy())[:40]
        else:
            traj = np.empty((0, 2, 2))
            ax.text(0, 0, f"{method} not run", ha="center")
        for tr in traj:
            ax.plot(tr[:, 0], tr[:, 1], lw=0.7, alpha=0.7)
        for fp in fps:
            ax.plot(*fp["z"], "o", color="tab:blue", mfc="tab:blue" if fp["kind"] == "stable" else "white", ms=8)
        ax.set_title(f"(B) {title}")
        ax.set_xlim(-2.5, 2.5)
        ax.set_ylim(-2.5, 2.5)
    n_seeds = max((r["seeds"] for r in rows), default=0)
    fig.text(0.5, 0.01, (
        "(A) target test trials scored after alignment: trial-average NLL under the true latent dynamics and KL divergence to the true "
        f"source latents (Gaussian fits), mean ± sd over {n_seeds} seed(s). (B) 40 test trajectories, mapped to the true latent space "
        "by an affine map fitted on SOURCE trials only (first seed); dots: fixed points (filled stable, open saddle). The system is "
        "our own 2-D bistable one (the paper prints no equations), so the numbers are not comparable with the paper's Fig. 3."),
        ha="center", fontsize=8, wrap=True)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    save_figure(fig, (args.out["pdf"], args.out["png"]), dpi=120)
    return 0


LATENTS_FIGURE_DOC = """ERDiff Fig. 4: 3-D trial-averaged latents per reach direction — source vs target aligned by ERDiff, DAF, JSDM."""


def trial_average(latents: np.ndarray, condition: list[str]) -> dict[str, np.ndarray]:
    """latents (trial, time, d) -> condition -> (time, d) mean."""
    cond = np.asarray(condition)
    return {c: latents[cond == c].mean(0) for c in sorted(set(cond), key=lambda s: (len(s), s))}


def latents_figure(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn erdiff latents-figure", description=LATENTS_FIGURE_DOC)
    add_job_arguments(parser, inputs={"source_run": "1", "runs": "*"}, params="the table spec as JSON", outputs=["pdf", "png"])
    args = parse_job_args(parser, argv)
    plt = pyplot()

    src = read_checkpoint(Path(args.inputs["source_run"]) / "latents.pt")
    test = np.asarray(src["split"]) == "test"
    src_lat = src["mean"].numpy()
    # a common 3-D view: PCA fitted on the source latents only
    flat = src_lat.reshape(-1, src_lat.shape[-1])
    mu = flat.mean(0)
    _, _, vt = np.linalg.svd(flat - mu, full_matrices=False)
    proj = vt[: min(3, vt.shape[0])].T

    def view(x):
        out = (x - mu) @ proj
        return np.pad(out, [(0, 0)] * (out.ndim - 1) + [(0, 3 - out.shape[-1])])

    panels = [("Source (test trials)", trial_average(view(src_lat[test]), list(np.asarray(src["condition"])[test])))]
    for run in read_runs(args.inputs["runs"]):
        aligned = read_checkpoint(Path(run["path"]) / "aligned.pt")
        # condition_var_ratio: between-direction variance of the aligned latents / the source's (collapse < 1)
        panels.append((f"Target aligned by {LABELS.get(run['method'], run['method'])} (R² {run.get('test_r2_pct', float('nan')):.1f}%,\n"
                       f"direction variance {100 * run.get('condition_var_ratio', float('nan')):.0f}% of the source's)",
                       trial_average(view(aligned["test_latents"].numpy()), aligned["test_condition"])))
    fig = plt.figure(figsize=(4.5 * len(panels), 5.2))
    colours = plt.get_cmap("hsv")
    # one scale for every panel (the source's range): a method that shrinks the target latents shows as small
    every = np.concatenate([np.stack(list(avg.values())).reshape(-1, 3) for _, avg in panels])
    lo, hi = every.min(0), every.max(0)
    for i, (title, avg) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1, projection="3d")
        for j, (cond, traj) in enumerate(avg.items()):
            ax.plot(traj[:, 0], traj[:, 1], traj[:, 2], color=colours(j / max(len(avg), 1)), label=str(cond))
            ax.scatter(*traj[0], color=colours(j / max(len(avg), 1)), s=10)
        ax.set_title(title, fontsize=9)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_zlim(lo[2], hi[2])
        ax.set_xlabel("PC1")
        ax.set_ylabel("PC2")
        ax.set_zlabel("PC3")
    fig.axes[0].legend(fontsize=6, loc="upper left")
    spec = args.params
    fig.text(0.5, 0.01, (
        f"Trial-averaged latents per reach direction (dots: first bin), projected on the top 3 PCs of the source latents; "
        f"one seed, held-out test trials, same axes in every panel. Cross-day only: the bundled pair is one monkey on two days "
        f"(inter-subject needs DANDI 000688 sessions of two monkeys, not available offline). {spec.get('caption_note', '')}"),
        ha="center", fontsize=8, wrap=True)
    save_figure(fig, (args.out["pdf"], args.out["png"]), dpi=120)
    return 0


ROBUSTNESS_FIGURE_DOC = """ERDiff Fig. 2: held-out R² of ERDiff vs a baseline over latent dimension and diffusion noise scale (seeds)."""


def robustness_figure(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn erdiff robustness-figure", description=ROBUSTNESS_FIGURE_DOC)
    add_job_arguments(parser, inputs={"runs": "*"}, params="the robustness spec as JSON", outputs=["pdf", "png"])
    args = parse_job_args(parser, argv)
    spec = args.params
    plt = pyplot()

    rows = []
    for run in read_runs(args.inputs["runs"]):
        m = re.search(r"/d(\d+)/s\d+/[a-z_]+_n([0-9.e-]+)$", run["path"].rstrip("/"))
        rows.append({**run, "dim": int(m.group(1)), "noise": float(m.group(2))})
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    base = spec["baseline"]
    for method, colour in (("erdiff", "tab:red"), (base, "tab:blue")):
        xs, ms, sds = [], [], []
        for d in spec["latent_dims"]:
            mean, sd, n = summarise([r.get("test_r2_pct") for r in rows if r["method"] == method and r["dim"] == d and np.isclose(r["noise"], spec["main_noise"])])
            xs.append(d), ms.append(mean), sds.append(sd)
        axes[0].errorbar(xs, ms, yerr=sds, marker="o", color=colour, label=LABELS.get(method, method), capsize=3)
        xs, ms, sds = [], [], []
        for ns in spec["noise_scales"]:
            noise = ns if method == "erdiff" else spec["main_noise"]  # a baseline has no diffusion noise: a flat line
            mean, sd, n = summarise([r.get("test_r2_pct") for r in rows if r["method"] == method and r["dim"] == spec["main_dim"] and np.isclose(r["noise"], noise)])
            xs.append(ns), ms.append(mean), sds.append(sd)
        axes[1].errorbar(xs, ms, yerr=sds, marker="o", color=colour, label=LABELS.get(method, method), capsize=3)
    axes[0].set_xlabel("latent dimension d")
    axes[1].set_xlabel("diffusion noise scale (× every β_t)")
    axes[1].set_xscale("log")
    axes[0].set_xticks(spec["latent_dims"], [str(d) for d in spec["latent_dims"]])
    axes[1].set_xticks(spec["noise_scales"], [f"{n:g}" for n in spec["noise_scales"]])
    axes[1].minorticks_off()
    for ax in axes:
        ax.set_ylabel("held-out target R² (%)")
        ax.legend()
    fig.suptitle(f"Robustness (Fig. 2), pair {spec['pair']}: held-out target R², mean ± sd over {len(spec['seeds'])} seeds", fontsize=10)
    fig.text(0.5, 0.01, (
        f"Left: latent dimension at diffusion noise scale {spec['main_noise']:g}; right: noise scale (× every β_t of the prior) at d = "
        f"{spec['main_dim']}; {LABELS.get(base, base)} has no diffusion prior, so its right-hand line is flat. Cross-day only (one monkey "
        f"offline). {len(spec['seeds'])} seeds, {len(spec['latent_dims'])} dims and {len(spec['noise_scales'])} noise scales here — "
        "too few for the paper's claim of consistency; the full config sweeps more."), ha="center", fontsize=8, wrap=True)
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    save_figure(fig, (args.out["pdf"], args.out["png"]), dpi=120)
    return 0
