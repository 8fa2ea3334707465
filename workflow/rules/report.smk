# Report stage: the scorecard (published numbers beside ours) — extended by each paper's rule file.


# === ERDiff ===
rule erdiff_scorecard_fragment:
    input:
        erd_table_runs(ERD_PAIRS_REAL),
    output:
        RESULTS + "/scorecard/erdiff.json",
    params:
        spec=erd_spec(),
    log:
        "results/logs/report/erdiff_scorecard.log",
    conda:
        ENV
    shell:
        "neurodyn table erdiff-scorecard --runs {input} --spec {params.spec} --out {output} 2> {log}"


if ERD:
    TARGETS.append(RESULTS + "/scorecard/erdiff.json")
    if "SCORECARD_FRAGMENTS" in globals():
        SCORECARD_FRAGMENTS.append(RESULTS + "/scorecard/erdiff.json")



# === Meta-dynamical SSM ===


# === DCF ===

