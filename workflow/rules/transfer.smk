# Transfer stage. Each paper keeps its rules in its own block below.

# === ERDiff ===


# === Meta-dynamical SSM ===
# Few-shot transfer to the held-out recordings: one job per (experiment, variant, seed) covers every target and k.


rule metadyn_transfer:
    input:
        targets=lambda w: [session_store(s) for s in MD_EXP[w.md_exp]["targets"]],
        pretrained=lambda w: [] if w.md_variant == "single" else [md_run("train", w.md_exp, w.md_variant, w.md_seed)],
    output:
        directory("results/runs/metadyn/transfer/{md_exp}/{md_variant}/seed{md_seed}"),
    params:
        p=lambda w: as_arg(md_transfer_params(w.md_exp, w.md_variant)),
        pretrained=lambda w, input: optional_arg("--pretrained", input.pretrained[:1]),
        seed=lambda w: md_seed(w.md_exp, w.md_seed),
    log:
        "results/logs/metadyn/transfer/{md_exp}_{md_variant}_seed{md_seed}.log",
    benchmark:
        "results/benchmarks/metadyn/transfer/{md_exp}_{md_variant}_seed{md_seed}.tsv"
    threads: 1
    resources:
        **train_resources(mem_mb=4000, runtime=720),  # + gpu, partition: config resources.train
    conda:
        ENV
    shell:
        "neurodyn transfer metadyn --targets {input.targets:q} {params.pretrained:q} --params {params.p:q} --seed {params.seed:q} --threads {threads} --out {output:q} 2> {log:q}"


# === DCF ===

