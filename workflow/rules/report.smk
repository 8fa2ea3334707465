# Report stage: the scorecard (published numbers beside ours) — extended by each paper's rule file.


# === ERDiff ===


# === Meta-dynamical SSM ===
# The scorecard fragment: the paper's figure claims measured on our runs (its numeric tables are not transcribed).


rule metadyn_scorecard:
    input:
        md_inputs("scorecard"),
    output:
        RESULTS + "/scorecard/metadyn.json",
    params:
        manifest=as_arg(md_manifest("scorecard")),
    log:
        "results/logs/metadyn/scorecard.log",
    conda:
        ENV
    shell:
        "neurodyn table metadyn scorecard --manifest {params.manifest} --out {output} 2> {log}"


if MD_BUILD["fig3"] and MD_BUILD["fewshot"]:
    TARGETS.append(RESULTS + "/scorecard/metadyn.json")
    if "SCORECARD_FRAGMENTS" in globals():
        SCORECARD_FRAGMENTS.append(RESULTS + "/scorecard/metadyn.json")


# === DCF ===

