# Align stage. Each paper keeps its rules in its own block below.

# === ERDiff ===
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
    resources:
        **train_resources(mem_mb=6000, runtime=240),  # + gpu, partition: config resources.train; the rehearsal slice peaked at 2035 MB on 60-trial stand-ins
    conda:
        ENV
    shell:
        "neurodyn align erdiff-experiment --source-session {input.source_session:q} --target-session {input.target_session:q}"
        " --params {params.p:q} --seed {params.seed:q} --threads {threads} --out {output:q} 2> {log:q}"


# === Meta-dynamical SSM ===


# === DCF ===

