# ERDiff (Wang et al., NeurIPS 2023): every rule of the paper. Planning: neurodyn.erdiff.plan (bound in plans.smk);
# commands: `neurodyn erdiff COMMAND` (neurodyn.erdiff.COMMANDS).


# --- Run records ---
# Run records: results/runs/erdiff/{pair}/d{dim}/s{seed}/{source | prior_<variant>_n<noise> | <method>_n<noise>}.
# dim = latent dimension, noise = the diffusion prior's noise scale: the main table uses the configured values,
# the robustness figure varies them. One job per (pair, dim, seed) trains the source VAE and the priors and runs
# every planned alignment (erd_plan in plans.smk; the job is rule erdiff_experiment below): the models are small and a
# per-model job would spend more time starting Python and torch than training.


wildcard_constraints:
    erd_pair=ndc.NAME_PATTERN[1:-1],
    erd_dim="[0-9]+",
    erd_seed="[0-9]+",


# --- Alignment ---
# One job per (pair, latent dim, seed): source VAE, diffusion priors, and every planned alignment — each target
# read-in fitted on target train trials, selected on target val trials, scored on target test trials
# (neurodyn.models.erdiff.runner.align). Resources gpu=0 on CPU is fine: pick_device takes a GPU when the job
# has one.


rule erdiff_experiment:
    input:
        unpack(erd_job_inputs),
    output:
        directory("results/runs/erdiff/{erd_pair}/d{erd_dim}/s{erd_seed}"),
    params:
        p=erd_job_params,
        seed=lambda w: erd_seed(w.erd_pair, w.erd_seed),
    log:
        "results/logs/erdiff/{erd_pair}/d{erd_dim}/s{erd_seed}.log",
    benchmark:
        "results/benchmarks/erdiff/{erd_pair}/d{erd_dim}/s{erd_seed}.tsv"
    threads: 1
    # the demo's longest jobs, started first so that none runs alone at its end (10:17 without, 9:48 with: benchmarks/README.md §5)
    priority: 10
    resources:
        **train_resources(mem_mb=6000, runtime=240),  # + gpu, partition: config resources.train; the rehearsal slice peaked at 2035 MB on 60-trial stand-ins
    conda:
        ENV
    shell:
        "neurodyn erdiff experiment --inputs source_session={input.source_session:q} target_session={input.target_session:q}"
        " --params {params.p:q} --seed {params.seed:q} --threads {threads} --out {output:q} 2> {log:q}"


# --- Tables and figures ---
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
        "neurodyn erdiff table1 --inputs runs={params.runs:q} --params {params.spec:q} --out csv={output.csv:q} md={output.md:q} 2> {log:q}"


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
        "neurodyn erdiff table2 --inputs runs={params.runs:q} --params {params.spec:q} --out csv={output.csv:q} md={output.md:q} 2> {log:q}"


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
        spec=erd_spec(sim=SOURCES.simulation(ERD["pairs"][ERD_PAIRS_SYN[0]]["target"])["params"] if ERD_PAIRS_SYN else {}),
    log:
        "results/logs/figures/erdiff_synthetic.log",
    benchmark:
        "results/benchmarks/figures/erdiff_synthetic.tsv"
    conda:
        ENV
    shell:
        "neurodyn erdiff synthetic --inputs runs={params.runs:q} sources={params.sources:q} --params {params.spec:q}"
        " --out csv={output.csv:q} md={output.md:q} pdf={output.pdf:q} png={output.png:q} 2> {log:q}"


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
        "neurodyn erdiff latents-figure --inputs source_run={params.source:q} runs={params.runs:q} --params {params.spec:q}"
        " --out pdf={output.pdf:q} png={output.png:q} 2> {log:q}"


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
        "neurodyn erdiff robustness-figure --inputs runs={params.runs:q} --params {params.spec:q} --out pdf={output.pdf:q} png={output.png:q} 2> {log:q}"


if ERD:
    TARGETS += ["results/tables/erdiff/table1_alignment.md", "results/tables/erdiff/table2_cost.md"]
    if ERD_PAIRS_SYN:
        TARGETS.append("results/figures/erdiff/fig3_synthetic.pdf")
    if ERD["latents_figure"]["pair"] in ERD_PAIRS_REAL:
        TARGETS.append("results/figures/erdiff/fig4_latents.pdf")
    if ERD["robustness"]["pair"] in ERD_PAIRS_REAL:
        TARGETS.append("results/figures/erdiff/fig2_robustness.pdf")


# --- Scorecard fragment ---
rule erdiff_scorecard_fragment:
    input:
        erd_jobs_of(erd_table_runs(ERD_PAIRS_REAL + ERD_PAIRS_SYN)),
    output:
        "results/scorecard/erdiff.json",
    params:
        runs=erd_table_runs(ERD_PAIRS_REAL + ERD_PAIRS_SYN),
        spec=erd_spec(),
    log:
        "results/logs/report/erdiff_scorecard.log",
    benchmark:
        "results/benchmarks/report/erdiff_scorecard.tsv"
    conda:
        ENV
    shell:
        "neurodyn erdiff scorecard --inputs runs={params.runs:q} --params {params.spec:q} --out {output:q} 2> {log:q}"


if ERD:
    TARGETS.append("results/scorecard/erdiff.json")
    if "SCORECARD_FRAGMENTS" in globals():
        SCORECARD_FRAGMENTS.append("results/scorecard/erdiff.json")
