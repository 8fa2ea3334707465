# Align stage. Each paper keeps its rules in its own block below.

# === ERDiff ===
# One job per method x seed: the target read-in is fitted on target train trials, selected on target val trials,
# scored on target test trials (neurodyn.models.erdiff.runner.align).


rule erdiff_align:
    input:
        unpack(erd_align_inputs),
    output:
        directory("results/runs/erdiff/{erd_pair}/d{erd_dim}/s{erd_seed}/{erd_method}_n{erd_noise}"),
    params:
        p=erd_align_params,
        seed=lambda w: erd_seed(w.erd_pair, w.erd_seed),
        prior=lambda w, input: f"--prior-run {input.prior}" if "prior" in input.keys() else "",
    log:
        "results/logs/erdiff/{erd_pair}/d{erd_dim}/s{erd_seed}/{erd_method}_n{erd_noise}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
        gpu=0,
    conda:
        ENV
    shell:
        "neurodyn align erdiff --method {wildcards.erd_method} --source-session {input.source_session}"
        " --target-session {input.target_session} --source-run {input.source} {params.prior}"
        " --params {params.p} --seed {params.seed} --out {output} 2> {log}"


# === Meta-dynamical SSM ===


# === DCF ===

