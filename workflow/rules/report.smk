# Report stage: the scorecard (published numbers beside ours) — extended by each paper's rule file.

# Every published number lives in src/neurodyn/report/published/<paper>.yaml; our numbers come from the fragments
# (results/scorecard/<paper>.json) that paper rule files append to SCORECARD_FRAGMENTS (common.smk). With no
# fragment at all the scorecard still lists every published row, marked "not run in this configuration".
PUBLISHED_DIR = "src/neurodyn/report/published"


localrules:
    scorecard,


rule scorecard:
    input:
        published=sorted(str(p) for p in Path(PUBLISHED_DIR).glob("*.yaml")),
        # a function: evaluated once every rule file has appended its fragment (include order does not matter)
        fragments=lambda wildcards: SCORECARD_FRAGMENTS,
    output:
        md=report("results/scorecard.md", caption="../report/scorecard.rst", category="Scorecard"),
        csv="results/scorecard.csv",
    params:
        published_dir=lambda wildcards, input: str(Path(input.published[0]).parent),
    log:
        "results/logs/report/scorecard.log",
    benchmark:
        "results/benchmarks/report/scorecard.tsv"
    conda:
        ENV
    shell:
        "neurodyn scorecard --inputs published={params.published_dir:q} fragments={input.fragments:q} --out md={output.md:q} csv={output.csv:q} 2> {log:q}"


TARGETS.append("results/scorecard.md")


# --- Data overview: one figure per session store, and the dataset table ---
# Figures and tables: each target is one file; asking for it rebuilds exactly its inputs.

OVERVIEW_SESSIONS = available_sessions(config["overview"]["sessions"])


rule overview_figure:
    input:
        session_store("{session}"),
    output:
        pdf=report("results/figures/overview/{session}.pdf", caption="../report/overview.rst", category="Data"),
        png="results/figures/overview/{session}.png",
    params:
        p=as_arg({"trials": config["overview"]["raster_trials"], "smooth_ms": config["overview"]["smooth_sd_ms"]}),
    log:
        "results/logs/figures/overview_{session}.log",
    benchmark:
        "results/benchmarks/figures/overview_{session}.tsv"
    conda:
        ENV
    shell:
        "neurodyn overview figure --inputs session={input:q} --params {params.p:q} --out pdf={output.pdf:q} png={output.png:q} 2> {log:q}"


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
        "neurodyn overview table --inputs sessions={input:q} --out csv={output.csv:q} md={output.md:q} 2> {log:q}"


TARGETS += expand("results/figures/overview/{session}.pdf", session=OVERVIEW_SESSIONS)
if OVERVIEW_SESSIONS:
    TARGETS.append("results/tables/overview/datasets.md")
