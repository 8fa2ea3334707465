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
    benchmark:
        "results/benchmarks/figures/overview_{session}.tsv"
    conda:
        ENV
    shell:
        "neurodyn overview figure --session {input:q} --trials {params.trials:q} --smooth-ms {params.smooth:q} --out {output.pdf:q} --png {output.png:q} 2> {log:q}"


rule dataset_table:
    input:
        [session_store(s) for s in OVERVIEW_SESSIONS],
    output:
        csv="results/tables/overview/datasets.csv",
        md=report("results/tables/overview/datasets.md", caption="../report/datasets.rst", category="Data"),
    log:
        "results/logs/tables/datasets.log",
    benchmark:
        "results/benchmarks/tables/datasets.tsv"
    conda:
        ENV
    shell:
        "neurodyn overview table --sessions {input:q} --csv {output.csv:q} --md {output.md:q} 2> {log:q}"


TARGETS += expand("results/figures/overview/{session}.pdf", session=OVERVIEW_SESSIONS)
if OVERVIEW_SESSIONS:
    TARGETS.append("results/tables/overview/datasets.md")


# === ERDiff ===
# Tables and figures read the per-method run records inside the experiment jobs' folders (the jobs are the
# DAG inputs; the records are passed by name).


rule erdiff_table1:
    input:
        erd_jobs_of(erd_table_runs(ERD_PAIRS_REAL)),
    output:
        csv="results/tables/erdiff/table1_alignment.csv",
        md=report("results/tables/erdiff/table1_alignment.md", caption="../report/erdiff.rst", category="ERDiff"),
    params:
        runs=erd_table_runs(ERD_PAIRS_REAL),
        spec=erd_spec(),
    log:
        "results/logs/tables/erdiff_table1.log",
    benchmark:
        "results/benchmarks/tables/erdiff_table1.tsv"
    conda:
        ENV
    shell:
        "neurodyn table erdiff-table1 --runs {params.runs:q} --spec {params.spec:q} --csv {output.csv:q} --md {output.md:q} 2> {log:q}"


rule erdiff_table2:
    input:
        erd_jobs_of(erd_table_runs(ERD_PAIRS_REAL[:1])),
    output:
        csv="results/tables/erdiff/table2_cost.csv",
        md=report("results/tables/erdiff/table2_cost.md", caption="../report/erdiff.rst", category="ERDiff"),
    params:
        runs=erd_table_runs(ERD_PAIRS_REAL[:1]),
        spec=erd_spec(),
    log:
        "results/logs/tables/erdiff_table2.log",
    benchmark:
        "results/benchmarks/tables/erdiff_table2.tsv"
    conda:
        ENV
    shell:
        "neurodyn table erdiff-table2 --runs {params.runs:q} --spec {params.spec:q} --csv {output.csv:q} --md {output.md:q} 2> {log:q}"


rule erdiff_synthetic:
    input:
        erd_jobs_of(erd_table_runs(ERD_PAIRS_SYN)),
    output:
        csv="results/tables/erdiff/synthetic_nll_kld.csv",
        md=report("results/tables/erdiff/synthetic_nll_kld.md", caption="../report/erdiff.rst", category="ERDiff"),
        pdf=report("results/figures/erdiff/fig3_synthetic.pdf", caption="../report/erdiff.rst", category="ERDiff"),
        png="results/figures/erdiff/fig3_synthetic.png",
    params:
        runs=erd_table_runs(ERD_PAIRS_SYN),
        sources=erd_synthetic_sources(),
        spec=erd_spec(),
        sim=lambda w: as_arg(SOURCES.simulation(ERD["pairs"][ERD_PAIRS_SYN[0]]["target"])["params"]) if ERD_PAIRS_SYN else "{}",
    log:
        "results/logs/figures/erdiff_synthetic.log",
    benchmark:
        "results/benchmarks/figures/erdiff_synthetic.tsv"
    conda:
        ENV
    shell:
        "neurodyn figure erdiff-synthetic --runs {params.runs:q} --sources {params.sources:q} --spec {params.spec:q} --sim {params.sim:q}"
        " --csv {output.csv:q} --md {output.md:q} --out {output.pdf:q} --png {output.png:q} 2> {log:q}"


rule erdiff_latents_figure:
    input:
        erd_jobs_of(erd_latents_runs()),
    output:
        pdf=report("results/figures/erdiff/fig4_latents.pdf", caption="../report/erdiff.rst", category="ERDiff"),
        png="results/figures/erdiff/fig4_latents.png",
    params:
        source=erd_latents_source(),
        runs=erd_latents_runs(),
        spec=erd_spec(),
    log:
        "results/logs/figures/erdiff_latents.log",
    benchmark:
        "results/benchmarks/figures/erdiff_latents.tsv"
    conda:
        ENV
    shell:
        "neurodyn figure erdiff-latents --source-run {params.source:q} --runs {params.runs:q} --spec {params.spec:q}"
        " --out {output.pdf:q} --png {output.png:q} 2> {log:q}"


rule erdiff_robustness_figure:
    input:
        erd_jobs_of(erd_robustness_runs()),
    output:
        pdf=report("results/figures/erdiff/fig2_robustness.pdf", caption="../report/erdiff.rst", category="ERDiff"),
        png="results/figures/erdiff/fig2_robustness.png",
    params:
        runs=erd_robustness_runs(),
        spec=lambda w: as_arg({**ERD["robustness"], "main_dim": erd_dim(ERD["robustness"]["pair"]), "main_noise": ERD["prior"]["noise_scale"]}),
    log:
        "results/logs/figures/erdiff_robustness.log",
    benchmark:
        "results/benchmarks/figures/erdiff_robustness.tsv"
    conda:
        ENV
    shell:
        "neurodyn figure erdiff-robustness --runs {params.runs:q} --spec {params.spec:q} --out {output.pdf:q} --png {output.png:q} 2> {log:q}"


if ERD:
    TARGETS += ["results/tables/erdiff/table1_alignment.md", "results/tables/erdiff/table2_cost.md"]
    if ERD_PAIRS_SYN:
        TARGETS.append("results/figures/erdiff/fig3_synthetic.pdf")
    if ERD["latents_figure"]["pair"] in ERD_PAIRS_REAL:
        TARGETS.append("results/figures/erdiff/fig4_latents.pdf")
    if ERD["robustness"]["pair"] in ERD_PAIRS_REAL:
        TARGETS.append("results/figures/erdiff/fig2_robustness.pdf")


# === Meta-dynamical SSM ===
# Figures 2–5, few-shot curves and tables; each reads run records named in a JSON manifest (one CLI arg).
rule metadyn_figure:
    input:
        lambda w: md_inputs(MD_NAME_TO_WHICH[w.md_fig]),
    output:
        pdf=report("results/figures/metadyn/{md_fig}.pdf", caption="../report/metadyn.rst", category="Meta-dynamical SSM"),
        png="results/figures/metadyn/{md_fig}.png",
    params:
        which=lambda w: MD_NAME_TO_WHICH[w.md_fig],
        manifest=lambda w: as_arg(md_manifest(MD_NAME_TO_WHICH[w.md_fig])),
        caption=lambda w: MD_FIGURES[MD_NAME_TO_WHICH[w.md_fig]][1],
    wildcard_constraints:
        md_fig="|".join(name for name, _ in MD_FIGURES.values()),
    log:
        "results/logs/metadyn/figure_{md_fig}.log",
    benchmark:
        "results/benchmarks/metadyn/figure_{md_fig}.tsv"
    conda:
        ENV
    shell:
        "neurodyn figure metadyn {params.which:q} --manifest {params.manifest:q} --caption {params.caption:q} --out {output.pdf:q} --png {output.png:q} 2> {log:q}"


rule metadyn_fewshot_tables:
    input:
        md_inputs("fewshot"),
    output:
        recon_csv="results/tables/metadyn/fewshot_recon.csv",
        recon_md=report("results/tables/metadyn/fewshot_recon.md", caption="../report/metadyn.rst", category="Meta-dynamical SSM"),
        forecast_csv="results/tables/metadyn/fewshot_forecast.csv",
        forecast_md=report("results/tables/metadyn/fewshot_forecast.md", caption="../report/metadyn.rst", category="Meta-dynamical SSM"),
    params:
        manifest=as_arg(md_manifest("fewshot")),
    log:
        "results/logs/metadyn/fewshot_tables.log",
    benchmark:
        "results/benchmarks/metadyn/fewshot_tables.tsv"
    conda:
        ENV
    shell:
        "neurodyn table metadyn fewshot --manifest {params.manifest:q} --recon-csv {output.recon_csv:q} --recon-md {output.recon_md:q}"
        " --forecast-csv {output.forecast_csv:q} --forecast-md {output.forecast_md:q} 2> {log:q}"


for _which, (_name, _) in MD_FIGURES.items():
    if MD_BUILD[_which]:
        TARGETS += [f"results/figures/metadyn/{_name}.pdf", f"results/figures/metadyn/{_name}.png"]
if MD_BUILD["fewshot"]:
    TARGETS += expand("results/tables/metadyn/fewshot_{m}.{ext}", m=["recon", "forecast"], ext=["csv", "md"])


# === DCF ===
# DCF figures: the ball (frames, simulated latent loops, rMAE, comparison latents, d_i with K_eff) and the neural
# data (mean latent trajectories by reach direction beside the comparison models, cross-seed stability).
rule dcf_figure:
    input:
        runs=lambda w: DCF_FIGURE_INPUTS[w.dcf_figure]["runs"],
        baselines=lambda w: DCF_FIGURE_INPUTS[w.dcf_figure]["baselines"],
        sessions=lambda w: DCF_FIGURE_INPUTS[w.dcf_figure]["sessions"],
    output:
        pdf=report("results/figures/dcf/{dcf_figure}.pdf", caption="../report/dcf.rst", category="DCF"),
        png="results/figures/dcf/{dcf_figure}.png",
    wildcard_constraints:
        dcf_figure="ball|rmae|ball-comparison|keff|neural-latents|stability",
    params:
        fig=DCF_FIGURE_PARAMS,
        baselines=lambda w, input: optional_arg("--baseline-runs", input.baselines),
        sessions=lambda w, input: optional_arg("--sessions", input.sessions),
    log:
        "results/logs/dcf/figure_{dcf_figure}.log",
    benchmark:
        "results/benchmarks/dcf/figure_{dcf_figure}.tsv"
    conda:
        ENV
    shell:
        "neurodyn figure dcf {wildcards.dcf_figure:q} --runs {input.runs:q} {params.baselines:q} {params.sessions:q} --params {params.fig:q} --out {output.pdf:q} --png {output.png:q} 2> {log:q}"


TARGETS += [f"results/figures/dcf/{w}.pdf" for w in DCF_FIGURE_INPUTS if dcf_figure_ok(w)]


