"""DCF figures: rotating-ball frames and latent loops, rMAE, comparison latents, sorted d_i with K_eff, neural
mean latent trajectories by reach direction, cross-seed stability.

``neurodyn dcf figure WHICH --runs R ... [--baseline-runs R ...] [--sessions S ...] --params JSON --out F.pdf --png F.png``
with WHICH in ball, rmae, ball-comparison, keff, neural-latents, stability.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from neurodyn.errors import InputError  # noqa: E402
from neurodyn.runrecord import read_config, read_metrics  # noqa: E402
from neurodyn.utils.figures import save_figure  # noqa: E402
from neurodyn.utils.jobargs import add_job_arguments, parse_job_args  # noqa: E402

NAMES = {"dcf": "DCF", "vae": "VAE", "lfads": "LFADS", "dmd": "DMD", "tphate": "T-PHATE", "cebra": "CEBRA", "pca": "PCA"}


def _load(run: str | Path) -> dict[str, Any]:
    path = Path(run) / "outputs.pt"
    if not path.exists():
        raise InputError(path, "", "outputs.pt of a finished DCF run record")
    return torch.load(path, weights_only=True)


def _save(fig, pdf: str, png: str, caption: str) -> None:
    fig.text(0.01, 0.005, caption, fontsize=6.5, wrap=True, va="bottom", ha="left")
    save_figure(fig, (pdf, png), dpi=130)


def _variant(run: str) -> str:
    cfg = read_config(run)
    return f"{cfg['variant']} (p = {cfg['nested_dropout']['p']:.3g})"


def _label3(ax, prefix: str = "latent") -> None:
    ax.set_xlabel(f"{prefix} 1", fontsize=6, labelpad=-8), ax.set_ylabel(f"{prefix} 2", fontsize=6, labelpad=-8)
    ax.set_zlabel(f"{prefix} 3", fontsize=6, labelpad=-8)
    ax.tick_params(labelsize=5, pad=-2)


def fig_ball(runs: list[str], params: dict, pdf: str, png: str) -> None:
    n_show = int(params["n_frames_shown"])
    fig = plt.figure(figsize=(2.6 + 1.0 * n_show, 2.6 * len(runs) + 0.6))
    grid = fig.add_gridspec(2 * len(runs), n_show + 3, left=0.05, right=0.98, top=0.93, bottom=0.12, wspace=0.08, hspace=0.25)
    for r, run in enumerate(runs):
        out = _load(run)
        shape = out["image_shape"]
        frames = out["frames"].numpy()[0]  # the data (τ = 1) of video 0
        x0 = out["flowed_x0"].numpy()[0]
        idx = np.linspace(0, len(x0) - 1, n_show).astype(int)
        for j, t in enumerate(idx):
            for row, (img, lab) in enumerate(((frames[t], "data\nτ = 1"), (x0[t], "flowed\nτ = 0"))):
                ax = fig.add_subplot(grid[2 * r + row, j])
                ax.imshow(img.reshape(shape[1:]) if shape[0] == 1 else img.reshape(shape).transpose(1, 2, 0), cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([]), ax.set_yticks([])
                if j == 0:
                    ax.set_ylabel(lab, fontsize=7)
                if row == 0:
                    ax.set_title(f"frame {t}", fontsize=7)
        ax3 = fig.add_subplot(grid[2 * r : 2 * r + 2, n_show:], projection="3d")
        sim = out["simulated_latents"].numpy()
        fl = out["flowed_latents"].numpy()[0]
        ax3.plot(fl[:, 0], fl[:, 1], fl[:, 2], color="0.5", ls="--", lw=0.8, label="video 0, flowed")
        for v in range(len(sim)):
            ax3.plot(sim[v, :, 0], sim[v, :, 1], sim[v, :, 2], lw=1.2, label=f"video {v}")
            ax3.scatter(*sim[v, 0, :3], s=10)
        ax3.set_title(f"{_variant(run)}: simulated latents, K_eff = {read_metrics(run)['k_eff']}", fontsize=7)
        _label3(ax3)
        ax3.legend(fontsize=5, loc="upper left")
    fig.suptitle("DCF on the rotating ball", fontsize=9)
    _save(fig, pdf, png, "Rotating ball: data frames of video 0 (τ = 1) and their compression by the flow (τ = 0); right: the first three "
          "simulated latents (first frame compressed, then the dynamical flow integrated at τ = 0; dot = start) and, dashed, the flowed "
          "latents of video 0's frames. One turn per video: a closed loop that follows the dashed curve means the dynamics were learned. " + params["ball_note"] + ". With this few videos and steps the loop and K_eff are illustrative only.")


def fig_rmae(runs: list[str], params: dict, pdf: str, png: str) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for n, run in enumerate(runs):
        c = _load(run)["rmae"]
        ax.plot(c["k"], c["encoder"], "o--", color=f"C{n}", label=f"encoder, {_variant(run)}")
        ax.plot(c["k"], c["flow"], "s-", color=f"C{n}", label=f"compressive flow, {_variant(run)}")
    ax.axhline(1.0, color="0.6", ls=":", lw=0.8)
    ax.set_xlabel("number of latents kept (K)"), ax.set_ylabel("rMAE  Σ|x̂ − x| / Σ|x|")
    ax.set_xscale("log", base=2), ax.legend(fontsize=6)
    ax.set_xticks(c["k"]), ax.set_xticklabels([str(v) for v in c["k"]])
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    _save(fig, pdf, png, "Reconstruction from the first K latents: the encoder's linear decode x^(0,K) vs the same point carried to τ = 1 by "
          "the generative flow (all frames of all videos; dotted: rMAE = 1, the error of a blank frame). " + params["ball_note"] + ".")


def _scatter3(ax, z: np.ndarray, colour: np.ndarray, title: str):
    sc = ax.scatter(z[:, 0], z[:, 1], z[:, 2] if z.shape[1] > 2 else np.zeros(len(z)), c=colour, cmap="hsv", vmin=0, vmax=360, s=4)
    ax.set_title(title, fontsize=8)
    _label3(ax)
    return sc


def fig_ball_comparison(runs: list[str], baseline_runs: list[str], params: dict, pdf: str, png: str) -> None:
    out = _load(runs[0])
    truth = out.get("true_latents")
    if truth is None:
        raise InputError(runs[0], "outputs.pt:true_latents", "the ball's true angle (simulated session with latents)")
    truth = truth.numpy().reshape(-1, 2)
    angle = np.degrees(np.mod(np.arctan2(truth[:, 1], truth[:, 0]), 2 * np.pi))
    panels = [(f"DCF flowed, {_variant(runs[0])}", out["flowed_latents"].numpy())]
    panels += [(NAMES[_load(r)["method"]], _load(r)["latents"].numpy()) for r in baseline_runs]
    ncol = min(3, len(panels))
    nrow = int(np.ceil(len(panels) / ncol))
    fig = plt.figure(figsize=(3.2 * ncol + 0.8, 3.0 * nrow + 0.6))
    sc = None
    for i, (title, z) in enumerate(panels):
        sc = _scatter3(fig.add_subplot(nrow, ncol, i + 1, projection="3d"), z.reshape(-1, z.shape[-1])[:, :3], angle, title)
    fig.subplots_adjust(left=0.02, right=0.88, top=0.93, bottom=0.1, wspace=0.15, hspace=0.25)
    cb = fig.colorbar(sc, cax=fig.add_axes([0.91, 0.25, 0.015, 0.5]))
    cb.set_label("true angle of the disk (°)", fontsize=7), cb.ax.tick_params(labelsize=6)
    _save(fig, pdf, png, "Rotating ball: the first three latents of every frame of every video, coloured by the true angle. A model that "
          "recovers the one circular latent variable draws a closed loop with the colours in order. " + params["ball_note"] + ".")


def _run_title(run: str) -> str:
    cfg = read_config(run)
    if "variant" in cfg:
        return f"ball, p = {cfg['nested_dropout']['p']:.3g}"
    return f"MC_Maze DCF, seed {read_config_seed(run)}"


def read_config_seed(run: str) -> Any:
    import json

    path = Path(run) / "run.json"
    return json.loads(path.read_text()).get("seed", "?") if path.exists() else "?"


def fig_keff(runs: list[str], params: dict, pdf: str, png: str) -> None:
    fig, axes = plt.subplots(1, len(runs), figsize=(3.4 * len(runs), 3.1), squeeze=False)
    for ax, run in zip(axes[0], runs):
        d = _load(run)["scales"].numpy()
        k = read_metrics(run)["k_eff"]
        i = np.arange(1, len(d) + 1)
        ax.bar(i, d, color="0.45", width=0.85)  # model order: nested dropout should make d_i decrease with i
        ax.axvline(k + 0.5, color="C3", lw=1.2, label=f"K_eff = {k}")
        ax.set_yscale("log"), ax.set_xlabel("latent index i (model order)"), ax.set_ylabel("scale d_i")
        ax2 = ax.twinx()
        ax2.plot(i, np.cumsum(d) / d.sum(), color="C0", lw=1.2, label=r"$\sum_{j \leq i} d_j \,/\, \sum_j d_j$")
        ax2.axhline(0.95, color="C0", ls=":", lw=0.8)
        ax2.set_ylim(0, 1.02), ax2.set_ylabel("cumulative fraction", color="C0", fontsize=8), ax2.tick_params(labelsize=7, colors="C0")
        ax.set_title(_run_title(run), fontsize=8)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=6, loc="center right")
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    _save(fig, pdf, png, "Scales d_i of the compression target in the model's latent order (bars, log scale) and their cumulative fraction "
          "(line); K_eff = smallest K with Σ_{i≤K} d_i ≥ 95% of Σ d_i (dotted). Ball: " + params["ball_note"]
          + ". Neural: " + params["caption_note"] + " K_eff at this training length is not the converged value of the paper (ball: 30).")


def fig_neural_latents(runs: list[str], baseline_runs: list[str], sessions: list[str], params: dict, pdf: str, png: str) -> None:
    from neurodyn.models.dcf import evaluate as ev
    from neurodyn.models.dcf.data import prepare_neural
    from neurodyn.store import open_session

    data = prepare_neural([open_session(p) for p in sessions], params["data"])
    out0 = _load(runs[0])
    flowed = out0["flowed_latents"].numpy()
    sim = np.full_like(flowed, np.nan)
    sim[out0["simulated_index"].numpy()] = out0["simulated_latents"].numpy()
    readout = read_config(runs[0])["report"]["dcf_readout"]
    # each panel's velocity R²: the one its job computed for Table 1 (scores), not a refit here
    dcf_r2 = f"Table 1 R² ({readout.replace('_', ' ')})"
    panels = [("DCF (flowed)", flowed, out0["scores"]["vel_r2_windows"].numpy(), dcf_r2), ("DCF (simulated)", sim, None, "")]
    for r in baseline_runs:
        o = _load(r)
        if o["method"] in params["methods_shown"]:
            panels.append((NAMES[o["method"]], o["latents"].numpy(), o["scores"]["vel_r2_windows"].numpy(), "velocity R²"))
    k = int(params["n_latents"])
    ncol = min(3, len(panels))
    nrow = int(np.ceil(len(panels) / ncol))
    fig = plt.figure(figsize=(3.3 * ncol + 1.2, 3.1 * nrow + 0.9))
    cmap = plt.get_cmap("hsv")
    n_dir = int(params["data"]["n_directions"])
    test = data.test
    for i, (title, z, r2_windows, r2_label) in enumerate(panels):
        ax = fig.add_subplot(nrow, ncol, i + 1, projection="3d")
        for d in range(n_dir):
            sel = test[data.direction[test] == d]
            if len(sel) == 0:
                continue
            colour = cmap(d / n_dir)
            for w in sel:  # single held-out windows, thin
                ax.plot(z[w, :, 0], z[w, :, 1], z[w, :, 2], color=colour, lw=0.4, alpha=0.35)
            mean = np.nanmean(z[sel, :, :3], axis=0)
            ax.plot(mean[:, 0], mean[:, 1], mean[:, 2], color=colour, lw=1.8)
            ax.scatter(*mean[0, :3], color=colour, s=12, edgecolor="k", linewidth=0.3)
        if r2_windows is not None:
            title += f"\n{r2_label} median {ev.summarise(r2_windows)['median']:.2f}"
        else:
            title += "\n(from each window's first steps)"
        ax.set_title(title, fontsize=8)
        _label3(ax)
    counts = np.bincount(data.direction[test], minlength=n_dir)
    handles = [plt.Line2D([], [], color=cmap(d / n_dir), lw=2, label=f"{int(round(360 * (d + 0.5) / n_dir))}° (n = {counts[d]})")
               for d in range(n_dir) if counts[d]]
    fig.legend(handles=handles, title="reach direction", fontsize=6, title_fontsize=7, loc="center right")
    fig.subplots_adjust(left=0.02, right=0.84, top=0.92, bottom=0.14, wspace=0.12, hspace=0.3)
    n_src = len(set(data.trial[test]))
    limit = (f" All {len(test)} held-out windows come from {n_src} source trial(s): with one reach, the direction sectors are parts of the same "
             "movement, not reach conditions, so this figure cannot show the condition structure of the paper's figure." if n_src < n_dir else "")
    _save(fig, pdf, png, f"Latent trajectories of held-out windows (thin) and their mean per reach direction (thick; {n_dir} sectors of each window's "
          f"net displacement; dot = start). Velocity R²: Table 1's ridge decoder from the first {k} latents.{limit} "
          + (params["neural_note"] + " " if params.get("neural_note") else "") + params["caption_note"])


def fig_stability(runs: list[str], baseline_runs: list[str], sessions: list[str], params: dict, pdf: str, png: str) -> None:
    from neurodyn.models.dcf import evaluate as ev
    from neurodyn.models.dcf.data import prepare_neural
    from neurodyn.store import open_session

    data = prepare_neural([open_session(p) for p in sessions], params["data"])
    k = int(params["n_latents"])
    groups = {"DCF (flowed)": [_load(r)["flowed_latents"].numpy() for r in runs]}
    for r in baseline_runs:
        o = _load(r)
        groups.setdefault(NAMES[o["method"]], []).append(o["latents"].numpy())
    groups = {g: v for g, v in groups.items() if len(v) > 1}
    fig, axes = plt.subplots(1, len(groups) + 1, figsize=(3.6 * (len(groups) + 1), 3.4))
    summary = []
    for ax, (name, lats) in zip(axes, groups.items()):
        mat = ev.pairwise_stability([z[data.test, :, :k].reshape(-1, k) for z in lats])
        im = ax.imshow(mat, vmin=0, vmax=1, cmap="viridis")
        for i in range(len(mat)):
            for j in range(len(mat)):
                ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=6, color="w" if mat[i, j] < 0.6 else "k")
        ax.set_xticks(range(len(mat))), ax.set_yticks(range(len(mat)))
        ax.set_xlabel("seed"), ax.set_ylabel("seed")
        iu = np.triu_indices(len(mat), 1)
        ax.set_title(f"{name}: mean {mat[iu].mean():.2f}", fontsize=8)
        summary.append(f"{name} mean {mat[iu].mean():.3f} (range {mat[iu].min():.3f}–{mat[iu].max():.3f}, {len(lats)} seeds)")
    fig.colorbar(im, ax=axes[len(groups) - 1], fraction=0.046, label="|cos|")
    ax = axes[-1]
    first = data.test[0]
    t_ms = (np.arange(data.rates.shape[1]) + 0.5) * data.step_ms
    ref = groups["DCF (flowed)"][0][first, :, 0]
    for s, z in enumerate(groups["DCF (flowed)"]):
        z = z[first, :, 0]
        sign = np.sign(np.dot(z - z.mean(), ref - ref.mean())) or 1.0
        ax.plot(t_ms, sign * z, lw=1, label=f"seed {s}")
    ax.set_xlabel("time in window (ms)"), ax.set_ylabel("DCF latent 1 (sign-aligned)"), ax.legend(fontsize=6)
    ax.set_title(f"one held-out window ({data.trial[first]})", fontsize=8)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    _save(fig, pdf, png, f"Cross-seed stability: |cosine| between the time-concatenated, centred latents (first {k} dims, {len(data.test)} held-out "
          f"windows) of each pair of seeds, each dimension sign-aligned. " + "; ".join(summary) + ". Few seeds and few, overlapping windows: "
          "the spread is indicative only. " + params["caption_note"])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn dcf figure", description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=["ball", "rmae", "ball-comparison", "keff", "neural-latents", "stability"])
    add_job_arguments(parser, inputs={"runs": "+", "baselines": "*", "sessions": "*"}, params="the figure's config slice as JSON",
                      outputs=["pdf", "png"])
    args = parse_job_args(parser, argv)
    params, which, pdf, png = args.params, args.which, args.out["pdf"], args.out["png"]
    runs, baselines, sessions = args.inputs["runs"], args.inputs["baselines"], args.inputs["sessions"]
    if which == "ball":
        fig_ball(runs, params, pdf, png)
    elif which == "rmae":
        fig_rmae(runs, params, pdf, png)
    elif which == "ball-comparison":
        fig_ball_comparison(runs, baselines, params, pdf, png)
    elif which == "keff":
        fig_keff(runs, params, pdf, png)
    elif which == "neural-latents":
        fig_neural_latents(runs, baselines, sessions, params, pdf, png)
    else:
        fig_stability(runs, baselines, sessions, params, pdf, png)
    return 0
