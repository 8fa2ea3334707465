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


# === DCF ===

