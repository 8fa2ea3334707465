# Train stage. Each paper keeps its rules in its own block below.

# === ERDiff ===


# === Meta-dynamical SSM ===
wildcard_constraints:
    md_exp="[A-Za-z0-9_]+",
    md_variant="meta|input|shared|single",
    md_seed="[0-9]+",


rule metadyn_train:
    input:
        lambda w: [session_store(s) for s in MD_EXP[w.md_exp]["sessions"]],
    output:
        directory("results/runs/metadyn/train/{md_exp}/{md_variant}/seed{md_seed}"),
    params:
        p=lambda w: as_arg(md_train_params(w.md_exp, w.md_variant)),
        seed=lambda w: _md_seed(config["seed"], "metadyn", w.md_exp, w.md_seed),
    log:
        "results/logs/metadyn/train/{md_exp}_{md_variant}_seed{md_seed}.log",
    threads: MD.get("threads", 1)
    resources:
        mem_mb=4000,
        runtime=720,
        gpu=0,  # CPU runs here; set gpu=1 in a cluster profile: the device is picked at run time
    conda:
        ENV
    shell:
        "neurodyn train metadyn --sessions {input} --params {params.p} --seed {params.seed} --threads {threads} --out {output} 2> {log}"


# === DCF ===

