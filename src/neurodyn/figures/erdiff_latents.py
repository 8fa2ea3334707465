"""ERDiff Fig. 4: 3-D trial-averaged latents per reach direction — source vs target aligned by ERDiff, DAF, JSDM."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from neurodyn.config import parse_params
from neurodyn.models.erdiff.report import LABELS, read_runs
from neurodyn.models.erdiff.runner import read_checkpoint
from neurodyn.utils.atomic import atomic_path


def trial_average(latents: np.ndarray, condition: list[str]) -> dict[str, np.ndarray]:
    """latents (trial, time, d) -> condition -> (time, d) mean."""
    cond = np.asarray(condition)
    return {c: latents[cond == c].mean(0) for c in sorted(set(cond), key=lambda s: (len(s), s))}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn figure erdiff-latents", description=__doc__)
    parser.add_argument("--source-run", required=True)
    parser.add_argument("--runs", nargs="*", default=[])
    parser.add_argument("--spec", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--png", required=True)
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    src = read_checkpoint(Path(args.source_run) / "latents.pt")
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
    for run in read_runs(args.runs):
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
    spec = parse_params(args.spec, "--spec")
    fig.text(0.5, 0.01, (
        f"Trial-averaged latents per reach direction (dots: first bin), projected on the top 3 PCs of the source latents; "
        f"one seed, held-out test trials, same axes in every panel. Cross-day only: the bundled pair is one monkey on two days "
        f"(inter-subject needs DANDI 000688 sessions of two monkeys, not available offline). {spec.get('caption_note', '')}"),
        ha="center", fontsize=8, wrap=True)
    for path in (args.out, args.png):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix[1:], dpi=120)
    return 0
