"""Data overview of session stores: one figure per session and one table of every session.

``neurodyn overview figure --session S.zarr --trials N --out S.pdf --png S.png [--smooth-ms 20]``
    spike raster of the first N trials (held-in units sorted by mean rate, NaN bins drawn as "not observed"),
    condition-averaged Gaussian-smoothed firing rates (spikes/s) of the most condition-selective units, a PCA
    projection of the condition-averaged population activity, and condition-averaged behaviour. Whatever the
    session lacks (conditions, behaviour, held-out units) is said in the figure instead of drawn.
``neurodyn overview table --sessions A.zarr B.zarr ... --csv T.csv --md T.md``
    one row per session: source, trials by split, units, bin width, window, behaviour, licence.

Outputs are written atomically and carry no timestamps, so the same store gives the same bytes.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neurodyn.errors import InputError
from neurodyn.metrics.nlb import gaussian_smooth
from neurodyn.store import open_session
from neurodyn.utils.tables import csv_text, md_lines, write_tables
from neurodyn.utils.figures import save_figure
from neurodyn.utils.jobargs import add_job_arguments, parse_job_args

# The NLB dandisets are all CC-BY-4.0 (DANDI metadata, docs/data.md §1).
NLB_DANDISETS = {"000127", "000128", "000129", "000130", "000138", "000139", "000140"}
NOT_OBSERVED = "#f3c89b"


# -- what a store says about itself -----------------------------------------------------------------------------
def source_label(ds) -> tuple[str, str]:
    """(kind, one-line description) of a store's ``attrs.source``."""
    source = ds.attrs.get("source", {}) or {}
    if "dandiset" in source:
        version = source.get("version", "?")
        path = source.get("path") or source.get("asset_path") or source.get("asset") or ""
        return "dandi", f"DANDI {source['dandiset']}/{version}" + (f" · {path}" if path else "")
    if "simulator" in source or "generator" in source:
        sim = source.get("simulator") or source.get("generator")
        seed = f", seed {source['seed']}" if "seed" in source else ""
        return "simulated", f"simulated by {sim}{seed}"
    if "mirror_file" in source or "file" in source:
        return "mirror", f"file {source.get('mirror_file') or source.get('file')}"
    return "unknown", ", ".join(f"{k}={v}" for k, v in sorted(source.items())) or "source not recorded"


def dataset_label(ds) -> str:
    attrs = ds.attrs
    for key in ("dataset", "nlb"):
        value = attrs.get(key)
        if isinstance(value, dict):
            value = value.get("name")
        if value:
            return str(value)
    return str(attrs.get("name", "session"))


def licence_of(ds) -> str:
    source = ds.attrs.get("source", {}) or {}
    for container in (ds.attrs, source):
        for key in ("licence", "license"):
            if container.get(key):
                return str(container[key])
    if str(source.get("dandiset", "")) in NLB_DANDISETS:
        return "CC-BY-4.0"
    if "simulator" in source or "generator" in source:
        return "generated here"
    return "unknown"


def behaviour_vars(ds) -> list[str]:
    return sorted(
        v for v in ds.data_vars
        if ds[v].ndim == 3 and ds[v].dims[:2] == ("trial", "time") and ds[v].dims[2] == f"{v}_axis"
    )


def split_counts(ds) -> dict[str, int]:
    values, counts = np.unique(np.asarray(ds["split"].values).astype(str), return_counts=True)
    order = {"train": 0, "val": 1, "test": 2, "none": 3}
    return dict(sorted(zip(values.tolist(), counts.tolist()), key=lambda kv: (order.get(kv[0], 9), kv[0])))


def _window(ds) -> tuple[float, float]:
    w = ds.attrs.get("window_ms") or [float(ds["time"].values[0]), float(ds["time"].values[-1])]
    return float(w[0]), float(w[1])


# -- the figure -------------------------------------------------------------------------------------------------
def _condition_colours(names: Sequence[str]):
    import matplotlib as mpl

    if len(names) <= 10:
        cmap = mpl.colormaps["tab10"]
        return [cmap(i) for i in range(len(names))]
    cmap = mpl.colormaps["turbo"]
    return [cmap(0.05 + 0.9 * i / max(len(names) - 1, 1)) for i in range(len(names))]


def _note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=9, color="0.35", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_color("0.85")


def _despine(ax) -> None:
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)


def render_overview(ds, *, trials: int, smooth_ms: float = 20.0, n_units: int = 3):
    """Build the overview Figure of a session store (see the module docstring). Returns a matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    name = str(ds.attrs.get("name", "session"))
    bin_ms = float(ds.attrs["bin_ms"])
    align = str(ds.attrs.get("align_event", "alignment event"))
    time_ms = np.asarray(ds["time"].values, dtype=float)
    has_spikes = "spikes" in ds
    data = np.asarray((ds["spikes"] if has_spikes else ds["observations"]).values, dtype=np.float64)
    n_trial, n_time, n_chan = data.shape
    heldout = np.asarray(ds["heldout"].values, bool) if has_spikes else np.zeros(n_chan, bool)
    unit_ids = np.asarray(ds["unit"].values) if has_spikes else np.arange(n_chan)
    conditions = np.asarray(ds["condition"].values).astype(str)
    cond_names = sorted(set(conditions.tolist()), key=lambda c: (len(c), c))
    has_conditions = len(cond_names) > 1
    colours = _condition_colours(cond_names) if has_conditions else ["0.15"]
    kind, src = source_label(ds)
    splits = split_counts(ds)
    t0, t1 = time_ms[0], time_ms[-1] + bin_ms
    centres = time_ms + bin_ms / 2

    # firing rates in spikes/s: Gaussian-smoothed counts per bin (NaN-aware) scaled to 1 s
    scale = 1000.0 / bin_ms if has_spikes else 1.0
    unit_label = "firing rate (spikes/s)" if has_spikes else "observation (a.u.)"
    smooth = gaussian_smooth(data, smooth_ms / bin_ms, axis=1) * scale
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a condition may have unobserved bins for a unit
        cond_mean = np.stack([np.nanmean(smooth[conditions == c], axis=0) for c in cond_names])
        mean_rate = np.nanmean(data, axis=(0, 1)) * scale
    mean_rate = np.nan_to_num(mean_rate, nan=-1.0)
    heldin_idx = np.flatnonzero(~heldout)

    fig = plt.figure(figsize=(15, 9.0), layout="constrained")
    n_ho = int(heldout.sum())
    what = "units" if has_spikes else "channels"
    split_text = ", ".join(f"{k} {v}" for k, v in splits.items())
    fig.suptitle(
        f"{dataset_label(ds)}  —  {src}\n"
        f"{n_trial} trials × {n_time} bins ({bin_ms:g} ms) × {n_chan} {what}"
        + (f" ({n_chan - n_ho} held-in, {n_ho} held-out)" if has_spikes else "")
        + f"   ·   aligned to {align}, {t0:g}…{t1:g} ms   ·   splits: {split_text}   ·   licence: {licence_of(ds)}",
        fontsize=11.5,
    )
    sf_a, sf_b, sf_cd = fig.subfigures(1, 3, width_ratios=[1.5, 1.0, 1.1], wspace=0.015)
    sf_c, sf_d = sf_cd.subfigures(2, 1, height_ratios=[2.0, 1.0], hspace=0.03)
    panel = {"x": 0.02, "ha": "left", "fontsize": 10.5, "fontweight": "bold"}
    zero_in_window = t0 < 0 < t1

    # A: raster — rows are held-in units (highest mean rate on top) within each of the first N trials
    ax = sf_a.subplots()
    shown = min(int(trials), n_trial)
    order = heldin_idx[np.argsort(-mean_rate[heldin_idx], kind="stable")]
    block = data[:shown][:, :, order]  # (trial, time, unit)
    image = np.concatenate([b.T for b in block], axis=0)
    if has_spikes:
        image = np.where(np.isnan(image), np.nan, np.minimum(image, 1.0))
        cmap = matplotlib.colormaps["Greys"].with_extremes(bad=NOT_OBSERVED)
        vmin, vmax = 0.0, 1.0
    else:
        cmap = matplotlib.colormaps["viridis"].with_extremes(bad=NOT_OBSERVED)
        vmin, vmax = np.nanpercentile(image, [1, 99]) if np.isfinite(image).any() else (0.0, 1.0)
    n_rows = len(order)
    # antialiased: thousands of unit rows are drawn on fewer pixels; averaging keeps every spike visible as grey
    ax.imshow(image, aspect="auto", interpolation="antialiased", cmap=cmap, vmin=vmin, vmax=vmax,
              extent=(t0, t1, shown * n_rows, 0))
    for k in range(1, shown):
        ax.axhline(k * n_rows, color="#4a90c2", lw=0.6)
    if zero_in_window:
        ax.axvline(0.0, color="#c0392b", lw=0.9, ls="--")
    trial_ids = np.asarray(ds["trial"].values)[:shown]
    step = max(1, int(np.ceil(shown / 25)))
    ax.set_yticks([(k + 0.5) * n_rows for k in range(0, shown, step)])
    ax.set_yticklabels([str(t) for t in trial_ids[::step]], fontsize=7.5)
    ax.set_ylabel(f"trial id   (each band: {n_rows} held-in {what}, highest mean rate on top)", fontsize=9)
    ax.set_xlabel(f"time relative to {align} (ms)", fontsize=9)
    ax.tick_params(labelsize=8)
    title = f"A   Spike raster, first {shown} of {n_trial} trials" if has_spikes else \
        f"A   Observations, first {shown} of {n_trial} trials (no spike counts in this store)"
    if n_ho:
        title += f"   ({n_ho} held-out units not shown)"
    sf_a.suptitle(title, **panel)
    handles = [Patch(facecolor="black", label="≥1 spike in bin" if has_spikes else "value"),
               Patch(facecolor=NOT_OBSERVED, label="not observed (NaN)")]
    if zero_in_window:
        handles.append(Line2D([0], [0], color="#c0392b", ls="--", lw=0.9, label=align))
    sf_a.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8, frameon=False)

    # B: condition-averaged smoothed rates of the most condition-selective (or highest-rate) held-in units
    if has_conditions:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            selectivity = np.nan_to_num(np.nanmean(np.nanvar(cond_mean, axis=0), axis=0), nan=-1.0)
        pick = heldin_idx[np.argsort(-selectivity[heldin_idx], kind="stable")][:n_units]
        how = "most condition-selective"
    else:
        pick = order[:n_units]
        how = "highest-rate"
    unit_axes = sf_b.subplots(max(n_units, 1), 1, sharex=True)
    unit_axes = np.atleast_1d(unit_axes)
    for row, uax in enumerate(unit_axes):
        if row >= len(pick):
            _note(uax, "")
            continue
        u = pick[row]
        for c, colour in enumerate(colours):
            uax.plot(centres, cond_mean[c, :, u], color=colour, lw=1.1, alpha=0.9)
        if zero_in_window:
            uax.axvline(0.0, color="#c0392b", lw=0.8, ls="--")
        _despine(uax)
        uax.set_title(f"{'unit' if has_spikes else 'channel'} {unit_ids[u]}   (mean {mean_rate[u]:.1f}"
                      f"{' spikes/s' if has_spikes else ''})", fontsize=8.5, loc="left")
        uax.tick_params(labelsize=8)
        uax.set_ylabel(unit_label if has_spikes else "a.u.", fontsize=8.5)
    sf_b.suptitle("B   Condition-averaged firing rates", **panel)
    cond_note = (f"{len(cond_names)} conditions" if has_conditions else
                 "no conditions in this session: trial average")
    sf_b.supxlabel(f"time relative to {align} (ms)\n{how} held-in units, Gaussian σ = {smooth_ms:g} ms\n"
                   f"{cond_note}", fontsize=9)

    # C: PCA of condition-averaged held-in activity (soft-normalised: rate / (range + 5 spikes/s))
    pax = sf_c.subplots()
    pca_units = heldin_idx if len(heldin_idx) >= 2 else np.arange(n_chan)
    x = cond_mean[:, :, pca_units]
    finite_t = np.all(np.isfinite(x), axis=(0, 2))
    subtitle = "one trajectory per condition" if has_conditions else "no conditions: trial-averaged trajectory"
    sf_c.suptitle("C   Population trajectories (PCA)", **panel)
    pax.set_title(f"{len(pca_units)} held-in {what}, condition-averaged, soft-normalised\n{subtitle}",
                  fontsize=8.5, loc="left", color="0.25")
    if finite_t.sum() >= 3 and x.shape[2] >= 2:
        x = x[:, finite_t]
        soft = np.ptp(x, axis=(0, 1)) + (5.0 if has_spikes else 1e-9)
        flat = (x / soft).reshape(-1, x.shape[2])
        flat = flat - flat.mean(axis=0)
        _, s, vt = np.linalg.svd(flat, full_matrices=False)
        var = s**2 / max(float(np.sum(s**2)), 1e-12)
        proj = (flat @ vt[:2].T).reshape(x.shape[0], x.shape[1], 2)
        tc = centres[finite_t]
        zero = int(np.argmin(np.abs(tc))) if zero_in_window else None
        for c, colour in enumerate(colours):
            pax.plot(proj[c, :, 0], proj[c, :, 1], color=colour, lw=1.2, alpha=0.9)
            pax.plot(proj[c, 0, 0], proj[c, 0, 1], "o", mfc="white", mec=colour, ms=4.5)
            if zero is not None:
                pax.plot(proj[c, zero, 0], proj[c, zero, 1], "o", color=colour, ms=4.5)
        pax.set_xlabel(f"PC1 ({100 * var[0]:.0f}% var.)", fontsize=9)
        pax.set_ylabel(f"PC2 ({100 * var[1]:.0f}% var.)", fontsize=9)
        pax.tick_params(labelsize=8)
        _despine(pax)
        marks = [Line2D([0], [0], marker="o", ls="", mfc="white", mec="0.3", label=f"start ({tc[0]:g} ms)")]
        if zero is not None:
            marks.append(Line2D([0], [0], marker="o", ls="", color="0.3", label=f"{align} (0 ms)"))
        if has_conditions and len(cond_names) <= 10:
            marks += [Line2D([0], [0], color=col, label=f"condition {c}") for c, col in zip(cond_names, colours)]
        pax.legend(handles=marks, fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    else:
        _note(pax, "too few observed bins or units for a PCA projection")

    # D: condition-averaged behaviour
    variables = behaviour_vars(ds)
    if variables:
        velocities = [v for v in variables if v.endswith("_vel")]
        var = (velocities or variables)[0]
        values = np.asarray(ds[var].values, dtype=np.float64)
        axes_names = [str(a) for a in ds[f"{var}_axis"].values][:3]
        unit = ds[var].attrs.get("units") or ds[var].attrs.get("unit") or ""
        baxes = np.atleast_1d(sf_d.subplots(1, len(axes_names), sharey=True))
        for k, (bax, axis_name) in enumerate(zip(baxes, axes_names)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                for c, colour in zip(cond_names, colours):
                    bax.plot(centres, np.nanmean(values[conditions == c][:, :, k], axis=0), color=colour, lw=1.0)
            if zero_in_window:
                bax.axvline(0.0, color="#c0392b", lw=0.8, ls="--")
            _despine(bax)
            bax.tick_params(labelsize=7.5)
            bax.set_title(f"{var} {axis_name}" + (f" ({unit})" if unit else ""), fontsize=8.5, loc="left")
        others = [v for v in variables if v != var]
        sf_d.suptitle("D   Condition-averaged behaviour" + (f"  (also in store: {', '.join(others)})" if others
                      else ""), **panel)
        sf_d.supxlabel(f"time relative to {align} (ms)", fontsize=9)
    else:
        bax = sf_d.subplots()
        sf_d.suptitle("D   Behaviour", **panel)
        _note(bax, "no behaviour variables in this session store\n(e.g. NLB test files hold none)")
    if has_conditions and len(cond_names) > 10:
        sf_c.supxlabel(f"colour = condition ({len(cond_names)} conditions, in label order)",
                       fontsize=8, color="0.35")
    return fig


def write_figure(fig, pdf: str | os.PathLike, png: str | os.PathLike | None, *, dpi: int = 200) -> None:
    """Save ``fig`` as PDF (+ PNG) atomically, without timestamps (byte-identical reruns)."""
    save_figure(fig, [pdf, *([png] if png is not None else [])], dpi=dpi)


# -- the table --------------------------------------------------------------------------------------------------
COLUMNS = ["session", "dataset", "source", "origin", "asset", "trials", "trials_by_split", "heldin_units",
           "heldout_units", "bin_ms", "window_ms", "align_event", "behaviour", "conditions", "licence"]


def session_row(ds) -> dict[str, Any]:
    source = ds.attrs.get("source", {}) or {}
    kind, _ = source_label(ds)
    if kind == "dandi":
        origin = f"{source['dandiset']}/{source.get('version', '?')}"
        asset = source.get("path") or source.get("asset_path") or ""
    elif kind == "simulated":
        origin = str(source.get("simulator") or source.get("generator"))
        asset = ""
    elif kind == "mirror":
        origin = "local mirror"
        asset = str(source.get("mirror_file") or source.get("file"))
    else:
        origin, asset = "", ""
    has_spikes = "spikes" in ds
    heldout = np.asarray(ds["heldout"].values, bool) if has_spikes else np.zeros(0, bool)
    w0, w1 = _window(ds)
    behaviour = "; ".join(
        f"{v} ({','.join(str(a) for a in ds[f'{v}_axis'].values)})" for v in behaviour_vars(ds)) or "none"
    splits = split_counts(ds)
    return {
        "session": ds.attrs.get("name", ""),
        "dataset": dataset_label(ds),
        "source": kind,
        "origin": origin,
        "asset": asset,
        "trials": int(ds.sizes["trial"]),
        "trials_by_split": " / ".join(f"{k} {v}" for k, v in splits.items()),
        "heldin_units": int((~heldout).sum()) if has_spikes else 0,
        "heldout_units": int(heldout.sum()),
        "bin_ms": f"{float(ds.attrs['bin_ms']):g}",
        "window_ms": f"{w0:g}…{w1:g}",
        "align_event": ds.attrs.get("align_event", ""),
        "behaviour": behaviour,
        "conditions": len(set(np.asarray(ds["condition"].values).astype(str).tolist())),
        "licence": licence_of(ds),
    }


def render_table(rows: list[dict[str, Any]]) -> tuple[str, str]:
    """(csv text, markdown text) of session rows."""
    header = ["session", "dataset", "source", "trials (by split)", "held-in / held-out units", "bin (ms)",
              "window (ms)", "behaviour", "conditions", "licence"]
    cells = [[r["session"], r["dataset"], f"{r['source']}: {r['origin']}" + (f" · `{r['asset']}`" if r["asset"] else ""),
              f"{r['trials']} ({r['trials_by_split']})", f"{r['heldin_units']} / {r['heldout_units']}", r["bin_ms"],
              f"{r['window_ms']} ({r['align_event']})", r["behaviour"], str(r["conditions"]), r["licence"]] for r in rows]
    lines = md_lines(header, cells)
    if not rows:
        lines.append("| (no session stores were built in this run) |" + " |" * (len(header) - 1))
    return csv_text(COLUMNS, rows), "\n".join(lines) + "\n"


# -- CLI --------------------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neurodyn overview", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    fig = sub.add_parser("figure", help="data-overview figure of one session store")
    # params: trials = trials drawn in the raster, smooth_ms = Gaussian kernel s.d. for rates (default 20)
    add_job_arguments(fig, inputs={"session": "1"}, params="JSON: trials, smooth_ms (config overview)", outputs=["pdf", "png?"])
    tab = sub.add_parser("table", help="one row per session store")
    add_job_arguments(tab, inputs={"sessions": "*"}, params=False, outputs=["csv", "md"])
    return parser


def main(argv: list[str]) -> int:
    args = parse_job_args(_parser(), argv)
    if args.what == "figure":
        trials, smooth_ms = args.params.get("trials"), args.params.get("smooth_ms", 20.0)
        if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
            raise InputError("--params", "trials", "a positive number of trials", got=trials)
        if not isinstance(smooth_ms, (int, float)) or isinstance(smooth_ms, bool) or smooth_ms < 0:
            raise InputError("--params", "smooth_ms", "a non-negative kernel width in ms", got=smooth_ms)
        ds = open_session(args.inputs["session"])
        fig = render_overview(ds, trials=trials, smooth_ms=float(smooth_ms))
        write_figure(fig, args.out["pdf"], args.out["png"])
        return 0
    rows = [session_row(open_session(path)) for path in args.inputs["sessions"]]
    csv_out, md_out = render_table(rows)
    write_tables({args.out["csv"]: csv_out, args.out["md"]: md_out})
    return 0


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.exit(main(sys.argv[1:]))
