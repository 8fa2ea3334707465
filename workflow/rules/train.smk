# Train stage. Each paper keeps its rules in its own block below.

# === ERDiff ===
# Run records: results/runs/erdiff/{pair}/d{dim}/s{seed}/{source | prior_<variant>_n<noise> | <method>_n<noise>}.
# dim = latent dimension, noise = the diffusion prior's noise scale: the main table uses the configured values,
# the robustness figure varies them. One job per (pair, dim, seed) trains the source VAE and the priors and runs
# every planned alignment (erd_plan in plans.smk; the job itself is in align.smk): the models are small and a
# per-model job would spend more time starting Python and torch than training.


wildcard_constraints:
    erd_pair=ndc.NAME_PATTERN[1:-1],
    erd_dim="[0-9]+",
    erd_seed="[0-9]+",


# === Meta-dynamical SSM ===
wildcard_constraints:
    md_exp=ndc.NAME_PATTERN[1:-1],
    md_variant=MD_VARIANTS,
    md_seed="[0-9]+",


rule metadyn_train:
    input:
        lambda w: [session_store(s) for s in MD_EXP[w.md_exp]["sessions"]],
    output:
        directory("results/runs/metadyn/train/{md_exp}/{md_variant}/seed{md_seed}"),
    params:
        p=lambda w: as_arg(md_train_params(w.md_exp, w.md_variant)),
        seed=lambda w: md_seed(w.md_exp, w.md_seed),
    log:
        "results/logs/metadyn/train/{md_exp}_{md_variant}_seed{md_seed}.log",
    benchmark:
        "results/benchmarks/metadyn/train/{md_exp}_{md_variant}_seed{md_seed}.tsv"
    threads: MD.get("threads", 1)
    resources:
        **train_resources(mem_mb=4000, runtime=720),  # + gpu, partition: config resources.train
    conda:
        ENV
    shell:
        "neurodyn train metadyn --sessions {input:q} --params {params.p:q} --seed {params.seed:q} --threads {threads} --out {output:q} 2> {log:q}"


# === DCF ===
# DCF (Wei et al. 2026): the ball (per nested-dropout variant), neural data (per seed), comparison models.
# Training rules run on CPU or one GPU (resources gpu=0 on CPU machines; the device is picked at run time).
wildcard_constraints:
    dcf_variant="[A-Za-z0-9]+",
    dcf_seed="[0-9]+",
    dcf_method="vae|lfads|dmd|cebra|tphate|pca",


rule dcf_train_ball:
    input:
        session_store(DCF["ball"]["session"]),
    output:
        directory("results/runs/dcf/ball_{dcf_variant}"),
    params:
        fit=lambda w: dcf_ball_params(w.dcf_variant),
        seed=lambda w: dcf_seed("ball", w.dcf_variant),
        device=config["device"],
    log:
        "results/logs/dcf/train_ball_{dcf_variant}.log",
    benchmark:
        "results/benchmarks/dcf/train_ball_{dcf_variant}.tsv"
    threads: 1
    resources:
        **train_resources(mem_mb=4000, runtime=600),  # + gpu, partition: config resources.train
    conda:
        ENV
    shell:
        "neurodyn train dcf --kind video --params {params.fit:q} --sessions {input:q} --seed {params.seed:q} --device {params.device:q} --out {output:q} 2> {log:q}"


rule dcf_train_neural:
    input:
        [session_store(s) for s in DCF["neural"]["sessions"]],
    output:
        directory("results/runs/dcf/neural_dcf_seed{dcf_seed}"),
    params:
        fit=dcf_fit_params(DCF["neural"], data=DCF["neural"]["data"]),
        seed=lambda w: dcf_seed("neural", int(w.dcf_seed)),
        device=config["device"],
    log:
        "results/logs/dcf/train_neural_seed{dcf_seed}.log",
    benchmark:
        "results/benchmarks/dcf/train_neural_seed{dcf_seed}.tsv"
    threads: 1
    resources:
        # the rehearsal measured > 5.5 GB (readouts of all 78,900 MC_Maze frames; still rising): 4000 was too small
        **train_resources(mem_mb=12000, runtime=600),  # + gpu, partition: config resources.train
    conda:
        ENV
    shell:
        "neurodyn train dcf --kind neural --params {params.fit:q} --sessions {input:q} --seed {params.seed:q} --device {params.device:q} --out {output:q} 2> {log:q}"


rule dcf_baseline_neural:
    input:
        [session_store(s) for s in DCF["neural"]["sessions"]],
    output:
        directory("results/runs/dcf/neural_{dcf_method}"),
    params:
        fit=as_arg({"data": DCF["neural"]["data"], **DCF["baselines"]}),
        seed=lambda w: dcf_seed("neural", w.dcf_method, 0),  # the same seed as its seed-0 run
        device=config["device"],
    log:
        "results/logs/dcf/baseline_neural_{dcf_method}.log",
    benchmark:
        "results/benchmarks/dcf/baseline_neural_{dcf_method}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=600,
        gpu=0,
    conda:
        ENV
    shell:
        "neurodyn train dcf-baseline --method {wildcards.dcf_method:q} --kind neural --params {params.fit:q} --sessions {input:q} --seed {params.seed:q} --device {params.device:q} --out {output:q} 2> {log:q}"


rule dcf_baseline_neural_seed:
    input:
        [session_store(s) for s in DCF["neural"]["sessions"]],
    output:
        directory("results/runs/dcf/neural_{dcf_method}_seed{dcf_seed}"),
    params:
        fit=as_arg({"data": DCF["neural"]["data"], **DCF["baselines"]}),
        seed=lambda w: dcf_seed("neural", w.dcf_method, int(w.dcf_seed)),
        device=config["device"],
    log:
        "results/logs/dcf/baseline_neural_{dcf_method}_seed{dcf_seed}.log",
    benchmark:
        "results/benchmarks/dcf/baseline_neural_{dcf_method}_seed{dcf_seed}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=600,
        gpu=0,
    conda:
        ENV
    shell:
        "neurodyn train dcf-baseline --method {wildcards.dcf_method:q} --kind neural --params {params.fit:q} --sessions {input:q} --seed {params.seed:q} --device {params.device:q} --out {output:q} 2> {log:q}"


rule dcf_baseline_ball:
    input:
        session_store(DCF["ball"]["session"]),
    output:
        directory("results/runs/dcf/ball_baseline_{dcf_method}"),
    params:
        fit=as_arg({"data": None, **DCF["baselines"]}),
        seed=lambda w: dcf_seed("ball", w.dcf_method),
        device=config["device"],
    log:
        "results/logs/dcf/baseline_ball_{dcf_method}.log",
    benchmark:
        "results/benchmarks/dcf/baseline_ball_{dcf_method}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=600,
        gpu=0,
    conda:
        ENV
    shell:
        "neurodyn train dcf-baseline --method {wildcards.dcf_method:q} --kind video --params {params.fit:q} --sessions {input:q} --seed {params.seed:q} --device {params.device:q} --out {output:q} 2> {log:q}"


rule dcf_train_user_video:
    input:
        lambda w: DCF["user_video"][w.dcf_video]["frames"],
    output:
        directory("results/runs/dcf/video_{dcf_video}"),
    params:
        fit=lambda w: dcf_user_params(w.dcf_video),
        seed=lambda w: dcf_seed("user_video", w.dcf_video),
        device=config["device"],
    log:
        "results/logs/dcf/train_video_{dcf_video}.log",
    benchmark:
        "results/benchmarks/dcf/train_video_{dcf_video}.tsv"
    threads: 1
    resources:
        **train_resources(mem_mb=8000, runtime=1440),  # + gpu, partition: config resources.train
    conda:
        ENV
    shell:
        "neurodyn train dcf --kind video --params {params.fit:q} --frames {input:q} --seed {params.seed:q} --device {params.device:q} --out {output:q} 2> {log:q}"


