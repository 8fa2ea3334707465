# Figures and tables: each target is one file; asking for it rebuilds exactly its inputs.

OVERVIEW_SESSIONS = available_sessions(config["overview"]["sessions"])


rule overview_figure:
    input:
        session_store("{session}"),
    output:
        pdf=report(RESULTS + "/figures/overview/{session}.pdf", caption="../report/overview.rst", category="Data"),
        png=RESULTS + "/figures/overview/{session}.png",
    params:
        trials=config["overview"]["raster_trials"],
    log:
        "results/logs/figures/overview_{session}.log",
    conda:
        ENV
    shell:
        "neurodyn overview figure --session {input} --trials {params.trials} --out {output.pdf} --png {output.png} 2> {log}"


rule dataset_table:
    input:
        [session_store(s) for s in OVERVIEW_SESSIONS],
    output:
        csv=RESULTS + "/tables/overview/datasets.csv",
        md=report(RESULTS + "/tables/overview/datasets.md", caption="../report/datasets.rst", category="Data"),
    log:
        "results/logs/tables/datasets.log",
    conda:
        ENV
    shell:
        "neurodyn overview table --sessions {input} --csv {output.csv} --md {output.md} 2> {log}"


TARGETS += expand(RESULTS + "/figures/overview/{session}.pdf", session=OVERVIEW_SESSIONS)
if OVERVIEW_SESSIONS:
    TARGETS.append(RESULTS + "/tables/overview/datasets.md")


# === ERDiff ===
ERD_PAIRS_REAL = erd_available_pairs()
ERD_PAIRS_SYN = erd_available_pairs("synthetic")


def erd_table_runs(pairs):
    return [erd_align_run(p, m, s) for p in pairs for m in ERD["methods"] for s in erd_seeds(p)]


def erd_spec():
    pairs = {name: {"setting": ERD["pairs"][name]["setting"], "source": ERD["pairs"][name]["source"], "target": ERD["pairs"][name]["target"]} for name in ERD.get("pairs", {})}
    missing = {}
    for name, pair in ERD.get("pairs", {}).items():
        for s in (pair["source"], pair["target"]):
            reason = SOURCES.unavailable_reason(s)
            if reason:
                missing[name] = reason
    return as_arg({"methods": ERD["methods"], "pairs": pairs, "available": ERD_PAIRS_REAL + ERD_PAIRS_SYN,
                   "unavailable": missing, "scorecard": ERD["scorecard"]})


rule erdiff_table1:
    input:
        erd_table_runs(ERD_PAIRS_REAL),
    output:
        csv=RESULTS + "/tables/erdiff/table1_alignment.csv",
        md=RESULTS + "/tables/erdiff/table1_alignment.md",
    params:
        spec=erd_spec(),
    log:
        "results/logs/tables/erdiff_table1.log",
    conda:
        ENV
    shell:
        "neurodyn table erdiff-table1 --runs {input} --spec {params.spec} --csv {output.csv} --md {output.md} 2> {log}"


rule erdiff_table2:
    input:
        erd_table_runs(ERD_PAIRS_REAL[:1]),
    output:
        csv=RESULTS + "/tables/erdiff/table2_cost.csv",
        md=RESULTS + "/tables/erdiff/table2_cost.md",
    params:
        spec=erd_spec(),
    log:
        "results/logs/tables/erdiff_table2.log",
    conda:
        ENV
    shell:
        "neurodyn table erdiff-table2 --runs {input} --spec {params.spec} --csv {output.csv} --md {output.md} 2> {log}"


rule erdiff_synthetic:
    input:
        runs=erd_table_runs(ERD_PAIRS_SYN),
        sources=[erd_run(p, erd_dim(p), s, "source") for p in ERD_PAIRS_SYN for s in erd_seeds(p)],
    output:
        csv=RESULTS + "/tables/erdiff/synthetic_nll_kld.csv",
        md=RESULTS + "/tables/erdiff/synthetic_nll_kld.md",
        pdf=RESULTS + "/figures/erdiff/fig3_synthetic.pdf",
        png=RESULTS + "/figures/erdiff/fig3_synthetic.png",
    params:
        spec=erd_spec(),
        sim=lambda w: as_arg(SOURCES.simulation(ERD["pairs"][ERD_PAIRS_SYN[0]]["target"])["params"]) if ERD_PAIRS_SYN else "{}",
    log:
        "results/logs/figures/erdiff_synthetic.log",
    conda:
        ENV
    shell:
        "neurodyn figure erdiff-synthetic --runs {input.runs} --sources {input.sources} --spec {params.spec} --sim {params.sim}"
        " --csv {output.csv} --md {output.md} --out {output.pdf} --png {output.png} 2> {log}"


def erd_latents_inputs(w):
    lf = ERD["latents_figure"]
    return {
        "source": erd_run(lf["pair"], erd_dim(lf["pair"]), lf["seed"], "source"),
        "runs": [erd_align_run(lf["pair"], m, lf["seed"]) for m in lf["methods"]],
    }


rule erdiff_latents_figure:
    input:
        unpack(erd_latents_inputs),
    output:
        pdf=RESULTS + "/figures/erdiff/fig4_latents.pdf",
        png=RESULTS + "/figures/erdiff/fig4_latents.png",
    params:
        spec=erd_spec(),
    log:
        "results/logs/figures/erdiff_latents.log",
    conda:
        ENV
    shell:
        "neurodyn figure erdiff-latents --source-run {input.source} --runs {input.runs} --spec {params.spec}"
        " --out {output.pdf} --png {output.png} 2> {log}"


def erd_robustness_runs():
    rb = ERD["robustness"]
    pair, main_noise, main_dim = rb["pair"], ERD["prior"]["noise_scale"], erd_dim(rb["pair"])
    runs = []
    for s in rb["seeds"]:
        for d in rb["latent_dims"]:
            runs += [erd_align_run(pair, "erdiff", s, d, main_noise), erd_align_run(pair, rb["baseline"], s, d, main_noise)]
        for n in rb["noise_scales"]:
            runs.append(erd_align_run(pair, "erdiff", s, main_dim, n))
        runs.append(erd_align_run(pair, rb["baseline"], s, main_dim, main_noise))
    return sorted(set(runs))


rule erdiff_robustness_figure:
    input:
        erd_robustness_runs() if ERD.get("robustness", {}).get("pair") in ERD_PAIRS_REAL else [],
    output:
        pdf=RESULTS + "/figures/erdiff/fig2_robustness.pdf",
        png=RESULTS + "/figures/erdiff/fig2_robustness.png",
    params:
        spec=lambda w: as_arg({**ERD["robustness"], "main_dim": erd_dim(ERD["robustness"]["pair"]), "main_noise": ERD["prior"]["noise_scale"]}),
    log:
        "results/logs/figures/erdiff_robustness.log",
    conda:
        ENV
    shell:
        "neurodyn figure erdiff-robustness --runs {input} --spec {params.spec} --out {output.pdf} --png {output.png} 2> {log}"


if ERD:
    TARGETS += [RESULTS + "/tables/erdiff/table1_alignment.md", RESULTS + "/tables/erdiff/table2_cost.md"]
    if ERD_PAIRS_SYN:
        TARGETS.append(RESULTS + "/figures/erdiff/fig3_synthetic.pdf")
    if ERD["latents_figure"]["pair"] in ERD_PAIRS_REAL:
        TARGETS.append(RESULTS + "/figures/erdiff/fig4_latents.pdf")
    if ERD["robustness"]["pair"] in ERD_PAIRS_REAL:
        TARGETS.append(RESULTS + "/figures/erdiff/fig2_robustness.pdf")



# === Meta-dynamical SSM ===


# === DCF ===

