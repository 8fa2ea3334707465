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
    conda:
        ENV
    shell:
        "neurodyn scorecard --published-dir {params.published_dir} --fragments {input.fragments} --out {output.md} --csv {output.csv} 2> {log}"


TARGETS.append("results/scorecard.md")


# === ERDiff ===


# === Meta-dynamical SSM ===


# === DCF ===

