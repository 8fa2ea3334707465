"""Figures 2–5 and the few-shot curves of Meta-Dynamical SSMs (Vermani et al., ICLR 2025) from run records.

``neurodyn metadyn figure {fig2,fig3,fig4,fig5,fewshot} --manifest JSON --out F.pdf --png F.png``

The manifest (built by workflow/rules/metadyn.smk) names the run records and session stores each panel reads;
nothing here trains: figures read only run records and session stores (docs/contracts.md §2).
"""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from neurodyn.errors import InputError


def _metrics(run: str) -> dict[str, Any]:
    from neurodyn.runrecord import read_metrics

    return read_metrics(run)


def _load_model(run: str):
    import torch

    from neurodyn.runrecord import read_config
    from neurodyn.models.metadyn import build_model

    cfg = read_config(run)
    ck = torch.load(Path(run) / "model.pt", weights_only=True, map_location="cpu")
    model = build_model(cfg["model"], ck["n_channels"], cfg["likelihood"], cfg["conditioning"])
    model.load_pretrained(ck["state_dict"])
    model.eval()
    return model, cfg, ck["sessions"]


def _embeddings(run: str) -> dict[str, Any]:
    return json.loads((Path(run) / "embeddings.json").read_text())


def _mean_sd(values: list[float]) -> tuple[float, float]:
    v = np.array([x for x in values if x is not None and np.isfinite(x)], float)
    return (float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0) if len(v) else (float("nan"), float("nan"))


def transfer_scores(runs: list[str], metric: str, k: int | None = None) -> tuple[float, float]:
    """Mean over targets per seed, then mean ± sd over seeds, of ``<target>.k<k>.<metric>`` (largest k if None)."""
    per_seed = []
    for run in runs:
        m = _metrics(run)
        ks = sorted({int(key.split(".k")[1].split(".")[0]) for key in m if f".{metric}" in key and ".k" in key})
        if not ks:
            continue
        kk = k if k is not None else ks[-1]
        vals = [v for key, v in m.items() if key.endswith(f".k{kk}.{metric}") and v is not None]
        if vals:
            per_seed.append(float(np.mean(vals)))
    return _mean_sd(per_seed)


def _vector_field(ax, model, e, latents: np.ndarray | None, title: str, n: int = 15) -> None:
    """Quiver of f(z; e) − z over the latents' range (first two latent dims)."""
    import torch

    if latents is not None and len(latents):
        flat = latents.reshape(-1, latents.shape[-1])
        lo, hi = flat.min(0)[:2], flat.max(0)[:2]
        pad = 0.15 * (hi - lo)
        lo, hi = lo - pad, hi + pad
    else:
        lo, hi = np.array([-2.0, -2.0]), np.array([2.0, 2.0])
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n))
    z = np.zeros((n * n, model.latent_dim), np.float32)
    z[:, 0], z[:, 1] = gx.ravel(), gy.ravel()
    zt = torch.as_tensor(z)
    with torch.no_grad():
        step = model.rollout(zt, None if e is None else torch.as_tensor(e, dtype=torch.float32), 1)[:, 0] - zt
    ax.quiver(gx, gy, step[:, 0].numpy().reshape(n, n), step[:, 1].numpy().reshape(n, n), color="0.5", angles="xy")
    if latents is not None:
        for trial in latents[:8]:
            ax.plot(trial[:, 0], trial[:, 1], lw=0.8)
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def _posterior_latents(model, d: int, store: str, cfg: dict, n_trials: int = 8):
    import torch

    from neurodyn.models.metadyn_data import load_all

    data = load_all([store], cfg)[0]
    y = torch.as_tensor(data.y[:n_trials])
    lengths = torch.full((y.shape[0],), y.shape[1])
    e = model.embedding_posterior(d, y, lengths)[0].detach() if model.embed_dim else None
    return model.smooth(d, y, lengths, e).numpy(), e, data


def fig2(man: dict, fig) -> str:
    """A: example recordings' true latents; B: learned shared dynamics (no embedding) for M small/large; C: forecast r²."""
    import xarray as xr

    axes = fig.subplots(1, 4)
    for store, omega in zip(man["examples"], man["example_values"]):
        ds = xr.open_zarr(store)
        lat = np.asarray(ds["latents"].isel(trial=0).values)
        axes[0].plot(np.asarray(ds["time"].values), lat[:, 0], label=f"ω = {omega:g}")
    axes[0].set_title("A  example recordings (latent x)", fontsize=8)
    axes[0].set_xlabel("time (ms)")
    axes[0].legend(fontsize=6)
    notes = []
    for ax, key in zip(axes[1:3], ("few", "many")):
        part = man[key]
        runs = part["train"].get("shared", [])
        if not runs:
            ax.set_axis_off()
            continue
        model, cfg, sessions = _load_model(runs[0])
        lat, _, _ = _posterior_latents(model, 0, part["stores"][0], cfg)
        _vector_field(ax, model, None, lat, f"B  shared dynamics, M = {part['M']}")
    _grouped_bars(axes[3], man, ("shared", "meta"), "forecast_r2", notes)
    axes[3].set_title("C  forecast r² on held-out speeds (largest k)", fontsize=8)
    return ("Panel A: ground-truth latent (first coordinate) of one trial of three recordings. B: the learned dynamics "
            "f(z) − z of the model without embedding, with posterior latents of 8 trials. C: forecasting r² on held-out "
            "speeds, without embedding (shared) and with it (meta); bars mean over seeds, dots single seeds. "
            + "; ".join(notes))


def _grouped_bars(ax, man: dict, variants: tuple[str, ...], metric: str, notes: list[str]) -> None:
    """Bars of ``metric`` per (M, variant) from the transfer runs at the largest k, with each seed as a dot."""
    width = 0.8 / len(variants)
    colours = {"shared": "0.65", "meta": "tab:blue", "input": "tab:green", "single": "tab:orange"}
    for j, variant in enumerate(variants):
        for i, key in enumerate(("few", "many")):
            runs = man[key]["transfer"].get(variant, [])
            per_seed = [transfer_scores([r], metric)[0] for r in runs]
            m, s = _mean_sd(per_seed)
            x = i + (j - (len(variants) - 1) / 2) * width
            ax.bar(x, m, width, color=colours.get(variant, "0.4"), label=variant if i == 0 else None)
            ax.plot(np.full(len(per_seed), x), per_seed, "k.", ms=4)
            notes.append(f"{variant} M={man[key]['M']}: {m:.3f} ± {s:.3f}")
    ax.set_xticks([0, 1], [f"M = {man['few']['M']}", f"M = {man['many']['M']}"])
    ax.set_ylabel(metric.replace("_r2", " r²"))
    ax.axhline(0, color="k", lw=0.5)
    ax.legend(fontsize=7)


def fig3(man: dict, fig) -> str:
    """A: mean dynamics of the slowest recording (M large); B: embedding samples per dataset; C: forecast r², M small vs large."""
    axes = fig.subplots(1, 3)
    part = man["many"]
    runs = part["train"].get("meta", [])
    notes = []
    if runs:
        model, cfg, sessions = _load_model(runs[0])
        values = part["values"]
        slow = int(np.argmin(values))
        lat, e, _ = _posterior_latents(model, slow, part["stores"][slow], cfg)
        _vector_field(axes[0], model, e.numpy(), lat, f"A  f(z; e) of the slowest recording (ω = {values[slow]:g}), M = {part['M']}")
        rng = np.random.default_rng(0)
        emb = _embeddings(runs[0])["embeddings"]
        for i, name in enumerate(sessions):
            mu, lv = np.array(emb[name]["mean"]), np.array(emb[name]["logvar"])
            samples = mu[0] + np.exp(0.5 * lv[0]) * rng.standard_normal(50)
            axes[1].scatter(np.full(50, values[i]) + rng.normal(0, 0.02, 50), samples, s=3)
        axes[1].set_xlabel("true speed ω (rad/s)")
        axes[1].set_ylabel("e (samples of q(e))")
        m = _metrics(runs[0])
        key = [k for k in m if k.startswith("embedding_spearman_") and "signed" not in k]
        sp = [_metrics(r).get(key[0]) for r in runs] if key else []
        spm, sps = _mean_sd([abs(x) for x in sp if x is not None])
        axes[1].set_title(f"B  q(e) per dataset; |Spearman(e, ω)| = {spm:.2f} ± {sps:.2f}", fontsize=8)
        notes.append(f"|Spearman(e, ω)| over seeds {spm:.3f} ± {sps:.3f}")
    _grouped_bars(axes[2], man, ("meta",), "forecast_r2", notes)
    axes[2].set_title(f"C  {man['horizon']}-step forecast r², held-out speeds", fontsize=8)
    return ("A: learned f(z; e) − z for the slowest pretraining recording with its posterior latents (seed 0). "
            "B: 50 samples of q(e) per pretraining recording against its true speed (seed 0). C: the meta model "
            "pretrained on M recordings, few-shot forecasting on held-out speeds at the largest k. " + "; ".join(notes))


def fig4(man: dict, fig) -> str:
    """A: true vs embedding-conditioned dynamics for example (a, b); B, C: recon / forecast r² per pretraining dataset."""
    from neurodyn.simulate import bifurcation

    runs = man["train"].get("meta", [])
    if not runs:
        raise InputError("--params", "train.meta", "at least one run of the bifurcation experiment")
    model, cfg, sessions = _load_model(runs[0])
    n_ex = min(4, len(sessions))
    axes = fig.subplots(2, n_ex + 1, gridspec_kw={"width_ratios": [1] * n_ex + [1.4]})
    for j in range(n_ex):
        a, b = man["values"][j]
        n = 15
        gx, gy = np.meshgrid(np.linspace(-1.6, 1.6, n), np.linspace(-1.6, 1.6, n))
        x = np.stack([gx.ravel(), gy.ravel()], 1)
        v = bifurcation.drift(x, a, b, man["omega0"], man["time_scale"])
        axes[0, j].quiver(gx, gy, v[:, 0].reshape(n, n), v[:, 1].reshape(n, n), color="0.3")
        axes[0, j].set_title(f"true a={a:g} b={b:g}", fontsize=7)
        axes[0, j].set_xticks([])
        axes[0, j].set_yticks([])
        lat, e, _ = _posterior_latents(model, j, man["stores"][j], cfg)
        _vector_field(axes[1, j], model, None if e is None else e.numpy(), lat, f"learned f(z; e_{j})")
    per = {s: ([], []) for s in sessions}
    for run in runs:
        m = _metrics(run)
        for s in sessions:
            per[s][0].append(m.get(f"{s}.recon_r2"))
            per[s][1].append(m.get(f"{s}.forecast_r2"))
    labels = [f"a={a:g}\nb={b:g}" for a, b in man["values"]]
    for ax, j, title in ((axes[0, -1], 0, "B  reconstruction r²"), (axes[1, -1], 1, "C  forecast r²")):
        ax.bar(range(len(sessions)), [_mean_sd(per[s][j])[0] for s in sessions], color="tab:blue")
        ax.set_xticks(range(len(sessions)), labels, fontsize=6)
        ax.set_ylim(min(0.0, *[_mean_sd(per[s][j])[0] for s in sessions]), 1.0)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_title(title + " (test trials)", fontsize=8)
    lines = [f"{s} (a={a:g}, b={b:g}): recon {_mean_sd(per[s][0])[0]:.3f}, forecast {_mean_sd(per[s][1])[0]:.3f}"
             for s, (a, b) in zip(sessions, man["values"])]
    return (f"A: top, the true vector field of each (a, b); bottom, the learned f(z; e) − z with posterior latents "
            f"(the learned latent plane is a linear transform of the true one, so compare the phase portraits, not the "
            f"axes). Test-trial r² per pretraining dataset (mean over {len(runs)} seed(s)): " + "; ".join(lines))


def fig5(man: dict, fig) -> str:
    """Embedding per recording; condition-averaged latents (2 PCs) of two recordings; real vs forecast behaviour."""
    import torch
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from neurodyn.models.metadyn_data import load_all

    runs = man["train"].get("meta", [])
    if not runs:
        raise InputError("--params", "train.meta", "at least one run of the motor experiment")
    model, cfg, sessions = _load_model(runs[0])
    axes = fig.subplots(1, 5)  # A embedding, B–C latents, D–E behaviour axes 0 and 1
    emb = _embeddings(runs[0])["embeddings"]
    rng = np.random.default_rng(0)
    for name in sessions:
        mu, lv = np.array(emb[name]["mean"]), np.array(emb[name]["logvar"])
        smp = mu[None] + np.exp(0.5 * lv)[None] * rng.standard_normal((30, len(mu)))
        axes[0].scatter(smp[:, 0], smp[:, 1] if smp.shape[1] > 1 else np.zeros(30), s=5, label=name)
    axes[0].legend(fontsize=6)
    axes[0].set_xlabel("e₁")
    axes[0].set_ylabel("e₂" if model.embed_dim > 1 else "")
    axes[0].set_title("A  samples of q(e)\nper recording", fontsize=8)
    notes = [f"{len(sessions)} pretraining recordings: a manifold cannot be judged from so few points" if len(sessions) < 5 else "",
             "B, C: condition-averaged posterior latents projected on the two principal axes of the readout's linear "
             "predictor C z (dot: first bin)"]
    behaviour_axes = 0  # behaviour panels drawn (D, E), for the first recording that has behaviour
    ctx = cfg["forecast"]["context_bins"]
    for ax, (d, store) in zip(axes[1:3], list(enumerate(man["stores"]))[:2]):
        data = load_all([store], cfg)[0]
        y = torch.as_tensor(data.y)
        lengths = torch.full((y.shape[0],), y.shape[1])
        e = model.embedding_posterior(d, y, lengths)[0].detach() if model.embed_dim else None
        z = model.smooth(d, y, lengths, e).numpy()
        flat = z.reshape(-1, z.shape[-1])
        # principal axes of the latents as the readout sees them (C z): directions the readout ignores carry no
        # neural activity, yet can hold most of the latents' variance (the first bin's move away from the prior)
        seen = model.readouts[d].weight.detach().numpy()  # (N, d_z)
        rates = (z - flat.mean(0)) @ seen.T  # (trials, T, N)
        _, _, vt = np.linalg.svd(rates.reshape(-1, rates.shape[-1]), full_matrices=False)
        conds = np.unique(data.condition)
        for cond in conds[:8]:
            pcs = rates[data.condition == cond].mean(0) @ vt[:2].T
            line, = ax.plot(pcs[:, 0], pcs[:, 1], lw=1)
            ax.plot(pcs[0, 0], pcs[0, 1], "o", color=line.get_color(), ms=3)
        ax.set_xlabel("PC 1 of readout(z)")
        ax.set_ylabel("PC 2 of readout(z)")
        ax.set_title(f"{'BC'[d]}  {sessions[d]}:\ncondition-averaged latents", fontsize=8)
        if len(conds) == 1:
            notes.append(f"{sessions[d]} has no condition labels (NLB test file): its panel is the average of all trials")
        if data.behaviour is None:
            notes.append(f"{sessions[d]}: no behaviour variable '{cfg['data'].get('behaviour')}' in the store, no behaviour forecast")
            continue
        if behaviour_axes:
            continue
        c = min(ctx, z.shape[1] - 1)
        fc = model.rollout(torch.as_tensor(z[:, c - 1]), e, z.shape[1] - c).numpy()
        beh = data.behaviour
        flat_beh = beh.reshape(-1, beh.shape[-1])
        # latents are standardised so that the ridge penalty does not depend on their arbitrary scale
        dec = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(flat, flat_beh)
        pred = dec.predict(fc.reshape(-1, fc.shape[-1])).reshape(fc.shape[0], fc.shape[1], -1)
        fit_r2 = r2_score(flat_beh, dec.predict(flat), multioutput="raw_values")
        fc_r2 = r2_score(beh[:, c:].reshape(-1, beh.shape[-1]), pred.reshape(-1, beh.shape[-1]), multioutput="raw_values")
        t = data.time_ms
        label = cfg["data"].get("behaviour")
        for axis, bx in enumerate(axes[3:5][: beh.shape[-1]]):
            for cond in conds[:8]:
                sel = data.condition == cond
                line, = bx.plot(t, beh[sel, :, axis].mean(0), lw=1)
                bx.plot(t[c:], pred[sel, :, axis].mean(0), "--", color=line.get_color(), lw=1)
            bx.axvline(t[c], color="k", lw=0.5)
            bx.set_xlabel("time (ms)")
            bx.set_ylabel(f"d/dt {label} (axis {axis}, per s)" if cfg["data"].get("behaviour_derivative") else f"{label} (axis {axis})")
            bx.set_title(f"{'DE'[axis]}  {sessions[d]}, axis {axis}:\nreal (—) vs forecast (--)", fontsize=8)
        per_axis = ", ".join(f"axis {i}: {a:.2f} / {b:.2f}" for i, (a, b) in enumerate(zip(fit_r2, fc_r2)))
        notes.append(f"D, E: condition averages of behaviour axes 0 and 1; the forecast rolls the mean dynamics from bin "
                     f"{c} (vertical line) and reads behaviour through a ridge decoder fitted on the same recording's "
                     f"posterior latents; R² in-sample decoding / single-trial forecast over the forecast bins — {per_axis}")
        behaviour_axes = min(2, beh.shape[-1])
    for bx in axes[3 + behaviour_axes :]:
        bx.set_axis_off()
    coll = _metrics(runs[0]).get("collapsed_datasets")
    if coll:
        notes.append(f"{coll} pretraining recording(s) flagged as mean-rate collapse (recon r² ≤ mean-rate r² + margin)")
    return "; ".join(n for n in notes if n)


def fewshot(man: dict, fig) -> str:
    """Reconstruction and forecasting r² on held-out recordings vs the number of trials k, per method."""
    exps = [e for e in man["experiments"] if any(man["experiments"][e]["transfer"].values())]
    axes = np.atleast_2d(fig.subplots(max(len(exps), 1), 2, squeeze=False))
    notes = []
    for row, exp in zip(axes, exps):
        part = man["experiments"][exp]
        for ax, metric in zip(row, ("recon_r2", "forecast_r2")):
            lows = []
            for variant, runs in part["transfer"].items():
                ks = man["ks"]
                stats = [transfer_scores(runs, metric, k) for k in ks]
                ax.errorbar(ks, [s[0] for s in stats], yerr=[s[1] for s in stats], label=variant, marker="o", ms=3, capsize=2)
                lows += [s[0] for s in stats if np.isfinite(s[0])]
            ax.set_xscale("log")
            ax.set_xticks(man["ks"], [str(k) for k in man["ks"]])
            ax.set_xlabel("k (training trials of the held-out recording)")
            ax.set_ylabel(metric.replace("_r2", " r²"))
            ax.set_ylim(max(-1.0, min(lows + [0.0]) - 0.05), 1.0)
            ax.axhline(0, color="k", lw=0.5)
            ax.set_title(f"{exp} (pretrained on M = {part['M']}): {metric.replace('_r2', ' r²')}", fontsize=8)
            ax.legend(fontsize=6)
        notes.append(f"{exp}: {len(next(iter(part['transfer'].values())))} seed(s)")
    return ("meta = hypernetwork, input = embedding as input, shared = no embedding (only read-in/readout fitted, e "
            "inferred from the k trials); single = the whole model trained on the k trials. Mean over held-out "
            "recordings, ± sd over seeds; y clipped at −1. r² of Poisson data is against Gaussian-smoothed single-trial "
            "counts, whose Poisson noise bounds it well below 1. " + "; ".join(notes))


FIGURES = {"fig2": fig2, "fig3": fig3, "fig4": fig4, "fig5": fig5, "fewshot": fewshot}


def main(argv: list[str]) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neurodyn.utils.figures import save_figure
    from neurodyn.utils.jobargs import add_job_arguments, parse_job_args

    parser = argparse.ArgumentParser(prog="neurodyn metadyn figure", description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=sorted(FIGURES))
    # the manifest names the run records and stores of every panel (its inputs, with their roles): no --inputs
    add_job_arguments(parser, params="JSON: run records and stores per panel; caption: the caption's first line", outputs=["pdf", "png"])
    args = parse_job_args(parser, argv)
    import torch

    torch.set_num_threads(1)
    man = args.params
    n_rows = len([e for e in man.get("experiments", {}) if any(man["experiments"][e]["transfer"].values())])
    height = {"fig4": 6.5, "fewshot": 1.2 + 2.6 * max(n_rows, 1)}.get(args.which, 4.2)
    fig = plt.figure(figsize=(13, height))
    note = FIGURES[args.which](man, fig)
    caption = ". ".join(x.rstrip(". ") for x in (man.get("caption", ""), note, man.get("caption_note", "")) if x) + "."
    fig.text(0.01, 0.005, textwrap.fill(caption, 210), fontsize=7, va="bottom")
    n_lines = caption.count("\n") + len(caption) // 210 + 1
    fig.tight_layout(rect=(0, min(0.45, (0.16 * n_lines + 0.1) / height), 1, 1))
    save_figure(fig, (args.out["pdf"], args.out["png"]), dpi=120)
    print(caption)
    return 0
