# Figures and tables: each target is one file; asking for it rebuilds exactly its inputs.

OVERVIEW_SESSIONS = available_sessions(config["overview"]["sessions"])


rule overview_figure:
    input:
        session_store("{session}"),
    output:
        pdf=report("results/figures/overview/{session}.pdf", caption="../report/overview.rst", category="Data"),
        png="results/figures/overview/{session}.png",
    params:
        trials=config["overview"]["raster_trials"],
        smooth=config["overview"]["smooth_sd_ms"],
    log:
        "results/logs/figures/overview_{session}.log",
    conda:
        ENV
    shell:
        "neurodyn overview figure --session {input} --trials {params.trials} --smooth-ms {params.smooth} --out {output.pdf} --png {output.png} 2> {log}"


rule dataset_table:
    input:
        [session_store(s) for s in OVERVIEW_SESSIONS],
    output:
        csv="results/tables/overview/datasets.csv",
        md=report("results/tables/overview/datasets.md", caption="../report/datasets.rst", category="Data"),
    log:
        "results/logs/tables/datasets.log",
    conda:
        ENV
    shell:
        "neurodyn overview table --sessions {input} --csv {output.csv} --md {output.md} 2> {log}"


TARGETS += expand("results/figures/overview/{session}.pdf", session=OVERVIEW_SESSIONS)
if OVERVIEW_SESSIONS:
    TARGETS.append("results/tables/overview/datasets.md")


# === ERDiff ===


# === Meta-dynamical SSM ===
# Figures 2–5, few-shot curves and tables; each reads run records named in a JSON manifest (one CLI arg).
MD_FIG = MD.get("figures", {})


def md_part(exp):
    """Run records and stores of one experiment, for a manifest."""
    if exp not in MD_EXP:
        return {"M": 0, "train": {}, "transfer": {}, "stores": [], "values": []}
    e = MD_EXP[exp]
    values = md_train_params(exp, "meta")["family_values"] or []
    return {
        "M": len(e["sessions"]), "train": md_runs("train", exp), "transfer": md_runs("transfer", exp),
        "stores": [session_store(s) for s in e["sessions"]], "values": values, "family_param": e["family_param"],
    }


def md_manifest(which):
    few, many = md_part(MD_FIG.get("few")), md_part(MD_FIG.get("many"))
    if which == "fig2":
        order = sorted(range(len(many["values"])), key=lambda i: many["values"][i])
        pick = [order[0], order[len(order) // 2], order[-1]] if order else []
        return {"few": few, "many": many, "examples": [many["stores"][i] for i in pick],
                "example_values": [many["values"][i] for i in pick]}
    if which == "fig3":
        return {"few": few, "many": many, "horizon": MD_EXP.get(MD_FIG.get("many"), {}).get("forecast", {}).get("horizon_bins")}
    if which == "fig4":
        exp = MD_FIG.get("bifurcation")
        part = md_part(exp)
        fam = MD_EXP[exp]["sessions"] if exp in MD_EXP else []
        sims = [SOURCES.sessions[s]["source"]["simulate"]["params"] for s in fam]
        part["values"] = [[p["a"], p["b"]] for p in sims]
        part["omega0"] = sims[0].get("omega0", 3.0) if sims else 3.0
        part["time_scale"] = sims[0].get("time_scale", 2.0) if sims else 2.0
        return part
    if which == "fig5":
        return md_part(MD_FIG.get("motor"))
    # few-shot curves, tables and the scorecard
    ks = MD.get("fewshot", {}).get("ks", [])
    out = {
        "experiments": {x: md_part(x) for x in MD_EXP if MD_EXP[x]["targets"]},
        "ks": sorted({k for x in MD_EXP.values() for k in x["fewshot"]["ks"]}) or ks,
    }
    if which == "scorecard":
        out.update(few=few, many=many, horizon=MD_EXP.get(MD_FIG.get("many"), {}).get("forecast", {}).get("horizon_bins"))
        motor = MD_FIG.get("motor")
        out["motor"] = {"transfer": md_runs("transfer", motor), "train": {}} if motor in MD_EXP else None
    return out


def md_inputs(which):
    man = md_manifest(which)
    parts = [man] if "train" in man else [v for v in man.values() if isinstance(v, dict) and "train" in v]
    parts += list(man.get("experiments", {}).values())
    runs = sorted({r for p in parts for r in md_flat({"a": p["train"], "b": p["transfer"]})})
    stores = sorted({s for p in parts for s in p.get("stores", [])} | set(man.get("examples", [])))
    return runs + stores


MD_FIGURES = {
    "fig2": ("fig2_limit_cycle_shared", "Fig 2 — limit cycles of different speed; one dynamics without embedding, M small vs large"),
    "fig3": ("fig3_embedding", "Fig 3 — embedding-conditioned dynamics: slowest recording, q(e) per dataset, forecast r² M small vs large"),
    "fig4": ("fig4_bifurcation", "Fig 4 — true vs embedding-conditioned dynamics across (a, b); r² per pretraining dataset"),
    "fig5": ("fig5_motor", "Fig 5 — motor cortex: embedding manifold, condition-averaged latents, real vs forecast behaviour"),
    "fewshot": ("fewshot_curves", "Few-shot reconstruction and forecasting r² vs number of trials"),
}
MD_BUILD = {
    "fig2": MD_FIG.get("few") in MD_EXP and MD_FIG.get("many") in MD_EXP,
    "fig3": MD_FIG.get("few") in MD_EXP and MD_FIG.get("many") in MD_EXP,
    "fig4": MD_FIG.get("bifurcation") in MD_EXP,
    "fig5": MD_FIG.get("motor") in MD_EXP,
    "fewshot": any(x["targets"] for x in MD_EXP.values()),
}
for _which, _ok in MD_BUILD.items():
    if not _ok:
        print(f"neurodyn: metadyn {_which}: its experiments cannot run here (see the notes above); not built", file=sys.stderr)


rule metadyn_figure:
    input:
        lambda w: md_inputs(MD_NAME_TO_WHICH[w.md_fig]),
    output:
        pdf=RESULTS + "/figures/metadyn/{md_fig}.pdf",
        png=RESULTS + "/figures/metadyn/{md_fig}.png",
    params:
        which=lambda w: MD_NAME_TO_WHICH[w.md_fig],
        manifest=lambda w: as_arg(md_manifest(MD_NAME_TO_WHICH[w.md_fig])),
        caption=lambda w: shlex.quote(MD_FIGURES[MD_NAME_TO_WHICH[w.md_fig]][1]),
    wildcard_constraints:
        md_fig="|".join(name for name, _ in MD_FIGURES.values()),
    log:
        "results/logs/metadyn/figure_{md_fig}.log",
    conda:
        ENV
    shell:
        "neurodyn figure metadyn {params.which} --manifest {params.manifest} --caption {params.caption} --out {output.pdf} --png {output.png} 2> {log}"


MD_NAME_TO_WHICH = {name: which for which, (name, _) in MD_FIGURES.items()}


rule metadyn_fewshot_tables:
    input:
        md_inputs("fewshot"),
    output:
        recon_csv=RESULTS + "/tables/metadyn/fewshot_recon.csv",
        recon_md=RESULTS + "/tables/metadyn/fewshot_recon.md",
        forecast_csv=RESULTS + "/tables/metadyn/fewshot_forecast.csv",
        forecast_md=RESULTS + "/tables/metadyn/fewshot_forecast.md",
    params:
        manifest=as_arg(md_manifest("fewshot")),
    log:
        "results/logs/metadyn/fewshot_tables.log",
    conda:
        ENV
    shell:
        "neurodyn table metadyn fewshot --manifest {params.manifest} --recon-csv {output.recon_csv} --recon-md {output.recon_md}"
        " --forecast-csv {output.forecast_csv} --forecast-md {output.forecast_md} 2> {log}"


for _which, (_name, _) in MD_FIGURES.items():
    if MD_BUILD[_which]:
        TARGETS += [f"{RESULTS}/figures/metadyn/{_name}.pdf", f"{RESULTS}/figures/metadyn/{_name}.png"]
if MD_BUILD["fewshot"]:
    TARGETS += expand(RESULTS + "/tables/metadyn/fewshot_{m}.{ext}", m=["recon", "forecast"], ext=["csv", "md"])


# === DCF ===

