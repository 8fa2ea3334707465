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
        "neurodyn scorecard --published-dir {params.published_dir:q} --fragments {input.fragments:q} --out {output.md:q} --csv {output.csv:q} 2> {log:q}"


TARGETS.append("results/scorecard.md")


# === ERDiff ===
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
        "neurodyn table erdiff-scorecard --runs {params.runs:q} --spec {params.spec:q} --out {output:q} 2> {log:q}"


if ERD:
    TARGETS.append("results/scorecard/erdiff.json")
    if "SCORECARD_FRAGMENTS" in globals():
        SCORECARD_FRAGMENTS.append("results/scorecard/erdiff.json")


# === Meta-dynamical SSM ===
# The scorecard fragment: the paper's figure claims measured on our runs (its numeric tables are not transcribed).


rule metadyn_scorecard:
    input:
        md_inputs("scorecard"),
    output:
        "results/scorecard/metadyn.json",
    params:
        manifest=as_arg(md_manifest("scorecard")),
    log:
        "results/logs/metadyn/scorecard.log",
    benchmark:
        "results/benchmarks/metadyn/scorecard.tsv"
    conda:
        ENV
    shell:
        "neurodyn table metadyn scorecard --manifest {params.manifest:q} --out {output:q} 2> {log:q}"


if MD_BUILD["fig3"] and MD_BUILD["fewshot"]:
    TARGETS.append("results/scorecard/metadyn.json")
    if "SCORECARD_FRAGMENTS" in globals():
        SCORECARD_FRAGMENTS.append("results/scorecard/metadyn.json")


# === DCF ===
# DCF Tables 1–2, cross-seed stability and the scorecard fragment (published numbers: report/published/dcf.yaml).
DCF_TABLE_PARAMS = as_arg({"data": DCF["neural"]["data"], "report": {**DCF["report"], "ball_reference_variant": DCF["ball"]["reference_variant"], "user_video": DCF["user_video"], "stability_baselines": DCF["neural"]["stability_baselines"]}})


rule dcf_tables:
    input:
        sessions=DCF_NEURAL_STORES,
        dcf=DCF_SEED_RUNS,
        baselines=DCF_NEURAL_BASELINES,
        baseline_seeds=DCF_BASELINE_SEED_RUNS,
        ball=DCF_BALL_RUNS if DCF_BALL_OK else [],
        videos=expand("results/runs/dcf/video_{v}", v=DCF_USER_VIDEOS),
    output:
        t1_csv="results/tables/dcf/table1_velocity_r2.csv",
        t1=report("results/tables/dcf/table1_velocity_r2.md", caption="../report/dcf.rst", category="DCF"),
        t2_csv="results/tables/dcf/table2_rate_r2.csv",
        t2=report("results/tables/dcf/table2_rate_r2.md", caption="../report/dcf.rst", category="DCF"),
        nlb_csv="results/tables/dcf/nlb_metrics.csv",
        nlb=report("results/tables/dcf/nlb_metrics.md", caption="../report/dcf.rst", category="DCF"),
        stability_csv="results/tables/dcf/stability.csv",
        stability=report("results/tables/dcf/stability.md", caption="../report/dcf.rst", category="DCF"),
        scorecard="results/scorecard/dcf.json",
    params:
        table=DCF_TABLE_PARAMS,
        ball=lambda w, input: optional_arg("--ball-runs", input.ball),
        videos=lambda w, input: optional_arg("--video-runs", input.videos),
        seeds=lambda w, input: optional_arg("--baseline-seed-runs", input.baseline_seeds),
    log:
        "results/logs/dcf/tables.log",
    benchmark:
        "results/benchmarks/dcf/tables.tsv"
    resources:
        mem_mb=8000,  # full MC_Maze: (2295 trials, 140 bins, 182 units) float64 spikes and rates for the NLB metrics
    conda:
        ENV
    shell:
        "neurodyn table dcf --params {params.table:q} --sessions {input.sessions:q} --dcf-runs {input.dcf:q} --baseline-runs {input.baselines:q} {params.seeds:q} {params.ball:q} {params.videos:q} --out-dir results/tables/dcf --scorecard {output.scorecard:q} 2> {log:q}"


if DCF_NEURAL_OK:
    TARGETS += ["results/tables/dcf/table1_velocity_r2.md", "results/tables/dcf/table2_rate_r2.md", "results/tables/dcf/nlb_metrics.md", "results/tables/dcf/stability.md", "results/scorecard/dcf.json"]
    if "SCORECARD_FRAGMENTS" in globals():
        SCORECARD_FRAGMENTS.append("results/scorecard/dcf.json")


