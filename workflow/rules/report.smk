# Report stage: the scorecard (published numbers beside ours) — extended by each paper's rule file.


# === ERDiff ===


# === Meta-dynamical SSM ===


# === DCF ===
# DCF Tables 1–2, cross-seed stability and the scorecard fragment (published numbers: report/published/dcf.yaml).
DCF_TABLE_PARAMS = as_arg({"data": DCF["neural"]["data"], "report": {**DCF["report"], "ball_reference_variant": DCF["ball"]["reference_variant"], "user_video": DCF["user_video"]}})


rule dcf_tables:
    input:
        sessions=DCF_NEURAL_STORES,
        dcf=DCF_SEED_RUNS,
        baselines=DCF_NEURAL_BASELINES,
        ball=DCF_BALL_RUNS if DCF_BALL_OK else [],
        videos=expand("results/runs/dcf/video_{v}", v=DCF_USER_VIDEOS),
    output:
        t1=multiext("results/tables/dcf/table1_velocity_r2", ".csv", ".md"),
        t2=multiext("results/tables/dcf/table2_rate_r2", ".csv", ".md"),
        stability=multiext("results/tables/dcf/stability", ".csv", ".md"),
        scorecard="results/scorecard/dcf.json",
    params:
        table=DCF_TABLE_PARAMS,
        ball=lambda w, input: ("--ball-runs " + " ".join(input.ball)) if input.ball else "",
        videos=lambda w, input: ("--video-runs " + " ".join(input.videos)) if input.videos else "",
    log:
        "results/logs/dcf/tables.log",
    conda:
        ENV
    shell:
        "neurodyn table dcf --params {params.table} --sessions {input.sessions} --dcf-runs {input.dcf} --baseline-runs {input.baselines} {params.ball} {params.videos} --out-dir results/tables/dcf --scorecard {output.scorecard} 2> {log}"


if DCF_NEURAL_OK:
    TARGETS += ["results/tables/dcf/table1_velocity_r2.md", "results/tables/dcf/table2_rate_r2.md", "results/scorecard/dcf.json"]
    if "SCORECARD_FRAGMENTS" in globals():
        SCORECARD_FRAGMENTS.append("results/scorecard/dcf.json")


