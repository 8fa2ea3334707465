# Meta-dynamical SSMs (Vermani et al., ICLR 2025): every rule of the paper. Planning: neurodyn.metadyn.plan (bound in
# plans.smk); commands: `neurodyn metadyn COMMAND` (neurodyn.metadyn.COMMANDS).


# --- Training ---
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
        "neurodyn metadyn train --inputs sessions={input:q} --params {params.p:q} --seed {params.seed:q} --threads {threads} --out {output:q} 2> {log:q}"


# --- Transfer ---
# Few-shot transfer to the held-out recordings: one job per (experiment, variant, seed) covers every target and k.


rule metadyn_transfer:
    input:
        targets=lambda w: [session_store(s) for s in MD_EXP[w.md_exp]["targets"]],
        pretrained=lambda w: [] if w.md_variant == "single" else [md_run("train", w.md_exp, w.md_variant, w.md_seed)],
    output:
        directory("results/runs/metadyn/transfer/{md_exp}/{md_variant}/seed{md_seed}"),
    params:
        p=lambda w: as_arg(md_transfer_params(w.md_exp, w.md_variant)),
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
        "neurodyn metadyn transfer --inputs targets={input.targets:q} pretrained={input.pretrained:q} --params {params.p:q} --seed {params.seed:q} --threads {threads} --out {output:q} 2> {log:q}"


# --- Tables and figures ---
# Figures 2–5, few-shot curves and tables; each reads run records named in a JSON manifest (one CLI arg).
rule metadyn_figure:
    input:
        lambda w: md_inputs(MD_NAME_TO_WHICH[w.md_fig]),
    output:
        pdf=report("results/figures/metadyn/{md_fig}.pdf", caption="../report/metadyn.rst", category="Meta-dynamical SSM"),
        png="results/figures/metadyn/{md_fig}.png",
    params:
        which=lambda w: MD_NAME_TO_WHICH[w.md_fig],
        manifest=lambda w: as_arg({**md_manifest(MD_NAME_TO_WHICH[w.md_fig]), "caption": MD_FIGURES[MD_NAME_TO_WHICH[w.md_fig]][1]}),
    wildcard_constraints:
        md_fig="|".join(name for name, _ in MD_FIGURES.values()),
    log:
        "results/logs/metadyn/figure_{md_fig}.log",
    benchmark:
        "results/benchmarks/metadyn/figure_{md_fig}.tsv"
    conda:
        ENV
    shell:
        "neurodyn metadyn figure {params.which:q} --params {params.manifest:q} --out pdf={output.pdf:q} png={output.png:q} 2> {log:q}"


rule metadyn_fewshot_tables:
    input:
        md_inputs("fewshot"),
    output:
        recon_csv="results/tables/metadyn/fewshot_recon.csv",
        recon_md=report("results/tables/metadyn/fewshot_recon.md", caption="../report/metadyn.rst", category="Meta-dynamical SSM"),
        forecast_csv="results/tables/metadyn/fewshot_forecast.csv",
        forecast_md=report("results/tables/metadyn/fewshot_forecast.md", caption="../report/metadyn.rst", category="Meta-dynamical SSM"),
    params:
        manifest=as_arg(md_manifest("fewshot")),
    log:
        "results/logs/metadyn/fewshot_tables.log",
    benchmark:
        "results/benchmarks/metadyn/fewshot_tables.tsv"
    conda:
        ENV
    shell:
        "neurodyn metadyn tables fewshot --params {params.manifest:q} --out recon_csv={output.recon_csv:q} recon_md={output.recon_md:q}"
        " forecast_csv={output.forecast_csv:q} forecast_md={output.forecast_md:q} 2> {log:q}"


for _which, (_name, _) in MD_FIGURES.items():
    if MD_BUILD[_which]:
        TARGETS += [f"results/figures/metadyn/{_name}.pdf", f"results/figures/metadyn/{_name}.png"]
if MD_BUILD["fewshot"]:
    TARGETS += expand("results/tables/metadyn/fewshot_{m}.{ext}", m=["recon", "forecast"], ext=["csv", "md"])


# --- Scorecard fragment ---
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
        "neurodyn metadyn tables scorecard --params {params.manifest:q} --out {output:q} 2> {log:q}"


if MD_BUILD["fig3"] and MD_BUILD["fewshot"]:
    TARGETS.append("results/scorecard/metadyn.json")
    if "SCORECARD_FRAGMENTS" in globals():
        SCORECARD_FRAGMENTS.append("results/scorecard/metadyn.json")
