# Train stage. Each paper keeps its rules in its own block below.

# === ERDiff ===


# === Meta-dynamical SSM ===


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
        device=config["device"],
    log:
        "results/logs/dcf/train_ball_{dcf_variant}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=600,
        gpu=0,
    conda:
        ENV
    shell:
        "neurodyn train dcf --kind video --params {params.fit} --sessions {input} --seed 0 --device {params.device} --out {output} 2> {log}"


rule dcf_train_neural:
    input:
        [session_store(s) for s in DCF["neural"]["sessions"]],
    output:
        directory("results/runs/dcf/neural_dcf_seed{dcf_seed}"),
    params:
        fit=dcf_fit_params(DCF["neural"], data=DCF["neural"]["data"]),
        device=config["device"],
    log:
        "results/logs/dcf/train_neural_seed{dcf_seed}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=600,
        gpu=0,
    conda:
        ENV
    shell:
        "neurodyn train dcf --kind neural --params {params.fit} --sessions {input} --seed {wildcards.dcf_seed} --device {params.device} --out {output} 2> {log}"


rule dcf_baseline_neural:
    input:
        [session_store(s) for s in DCF["neural"]["sessions"]],
    output:
        directory("results/runs/dcf/neural_{dcf_method}"),
    params:
        fit=as_arg({"data": DCF["neural"]["data"], **DCF["baselines"]}),
        device=config["device"],
    log:
        "results/logs/dcf/baseline_neural_{dcf_method}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=600,
        gpu=0,
    conda:
        ENV
    shell:
        "neurodyn train dcf-baseline --method {wildcards.dcf_method} --kind neural --params {params.fit} --sessions {input} --seed 0 --device {params.device} --out {output} 2> {log}"


rule dcf_baseline_ball:
    input:
        session_store(DCF["ball"]["session"]),
    output:
        directory("results/runs/dcf/ball_baseline_{dcf_method}"),
    params:
        fit=as_arg({"data": None, **DCF["baselines"]}),
        device=config["device"],
    log:
        "results/logs/dcf/baseline_ball_{dcf_method}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=600,
        gpu=0,
    conda:
        ENV
    shell:
        "neurodyn train dcf-baseline --method {wildcards.dcf_method} --kind video --params {params.fit} --sessions {input} --seed 0 --device {params.device} --out {output} 2> {log}"


rule dcf_train_user_video:
    input:
        lambda w: DCF["user_video"][w.dcf_video]["frames"],
    output:
        directory("results/runs/dcf/video_{dcf_video}"),
    params:
        fit=lambda w: dcf_user_params(w.dcf_video),
        device=config["device"],
    log:
        "results/logs/dcf/train_video_{dcf_video}.log",
    threads: 1
    resources:
        mem_mb=8000,
        runtime=1440,
        gpu=0,
    conda:
        ENV
    shell:
        "neurodyn train dcf --kind video --params {params.fit} --frames {input} --seed 0 --device {params.device} --out {output} 2> {log}"


