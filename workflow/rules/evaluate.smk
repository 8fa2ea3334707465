# Evaluate stage. Each paper keeps its rules in its own block below.

# === NLB === the benchmark's spike-smoothing reference on every NLB train session (co-bps, vel R², psth R²,
# DMFC_RSG's tp corr): neurodyn.evaluate.nlb_smoothing. Sessions that cannot be built here are left out.
NLB_EVAL = config.get("nlb_eval") or {}
NLB_EVAL_SESSIONS = available_sessions(NLB_EVAL.get("sessions", []))


rule nlb_smoothing:
    input:
        [session_store(s) for s in NLB_EVAL_SESSIONS],
    output:
        csv="results/tables/nlb/smoothing.csv",
        md="results/tables/nlb/smoothing.md",
    params:
        p=as_arg({**{k: v for k, v in NLB_EVAL.items() if k != "sessions"}, "nlb": {s: config["nlb"][config["sessions"][s]["nlb"]] | {"name": config["sessions"][s]["nlb"]} for s in NLB_EVAL_SESSIONS}}),
    log:
        "results/logs/evaluate/nlb_smoothing.log",
    benchmark:
        "results/benchmarks/evaluate/nlb_smoothing.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    conda:
        ENV
    shell:
        "neurodyn evaluate nlb-smoothing --inputs sessions={input:q} --params {params.p:q} --out csv={output.csv:q} md={output.md:q} 2> {log:q}"


if NLB_EVAL_SESSIONS:
    TARGETS.append("results/tables/nlb/smoothing.md")

# === ERDiff ===


# === Meta-dynamical SSM ===


# === DCF ===

