# DCF — Dynamic Compression Flows: every rule of the paper. Planning: neurodyn.dcf.plan (bound in plans.smk);
# commands: `neurodyn dcf COMMAND` (neurodyn.dcf.COMMANDS).


# --- Training ---
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
        "neurodyn dcf train --kind video --inputs sessions={input:q} --params {params.fit:q} --seed {params.seed:q} --device {params.device:q} --out {output:q} 2> {log:q}"


rule dcf_train_neural:
    input:
        [session_store(s) for s in DCF["neural"]["sessions"]],
    output:
        directory("results/runs/dcf/neural_dcf_seed{dcf_seed}"),
    params:
        fit=as_arg(_dcfp.neural_params(DCF)),
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
        "neurodyn dcf train --kind neural --inputs sessions={input:q} --params {params.fit:q} --seed {params.seed:q} --device {params.device:q} --out {output:q} 2> {log:q}"


rule dcf_baseline_neural:
    input:
        [session_store(s) for s in DCF["neural"]["sessions"]],
    output:
        directory("results/runs/dcf/neural_{dcf_method}"),
    params:
        fit=as_arg(_dcfp.neural_baseline_params(DCF)),
        seed=lambda w: dcf_seed("neural", w.dcf_method, 0),  # the same seed as its seed-0 run
        device=config["device"],
    log:
        "results/logs/dcf/baseline_neural_{dcf_method}.log",
    benchmark:
        "results/benchmarks/dcf/baseline_neural_{dcf_method}.tsv"
    threads: 1
    resources:
        mem_mb=8000,  # the rehearsal of 2026-12-03 peaked at 4.7-5.0 GB (MC_Maze full size, scored in the job: NLB GLMs)
        runtime=600,
        gpu=0,
    conda:
        ENV
    shell:
        "neurodyn dcf baseline --method {wildcards.dcf_method:q} --kind neural --inputs sessions={input:q} --params {params.fit:q} --seed {params.seed:q} --device {params.device:q} --out {output:q} 2> {log:q}"


rule dcf_baseline_neural_seed:
    input:
        [session_store(s) for s in DCF["neural"]["sessions"]],
    output:
        directory("results/runs/dcf/neural_{dcf_method}_seed{dcf_seed}"),
    params:
        fit=as_arg(_dcfp.neural_baseline_params(DCF)),
        seed=lambda w: dcf_seed("neural", w.dcf_method, int(w.dcf_seed)),
        device=config["device"],
    log:
        "results/logs/dcf/baseline_neural_{dcf_method}_seed{dcf_seed}.log",
    benchmark:
        "results/benchmarks/dcf/baseline_neural_{dcf_method}_seed{dcf_seed}.tsv"
    threads: 1
    resources:
        mem_mb=8000,  # the rehearsal of 2026-12-03 peaked at 4.7-5.0 GB (MC_Maze full size, scored in the job: NLB GLMs)
        runtime=600,
        gpu=0,
    conda:
        ENV
    shell:
        "neurodyn dcf baseline --method {wildcards.dcf_method:q} --kind neural --inputs sessions={input:q} --params {params.fit:q} --seed {params.seed:q} --device {params.device:q} --out {output:q} 2> {log:q}"


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
        "neurodyn dcf baseline --method {wildcards.dcf_method:q} --kind video --inputs sessions={input:q} --params {params.fit:q} --seed {params.seed:q} --device {params.device:q} --out {output:q} 2> {log:q}"


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
        "neurodyn dcf train --kind video --inputs frames={input:q} --params {params.fit:q} --seed {params.seed:q} --device {params.device:q} --out {output:q} 2> {log:q}"


# --- Tables and figures ---
# DCF figures: the ball (frames, simulated latent loops, rMAE, comparison latents, d_i with K_eff) and the neural
# data (mean latent trajectories by reach direction beside the comparison models, cross-seed stability).
rule dcf_figure:
    input:
        runs=lambda w: DCF_FIGURE_INPUTS[w.dcf_figure]["runs"],
        baselines=lambda w: DCF_FIGURE_INPUTS[w.dcf_figure]["baselines"],
        sessions=lambda w: DCF_FIGURE_INPUTS[w.dcf_figure]["sessions"],
    output:
        pdf=report("results/figures/dcf/{dcf_figure}.pdf", caption="../report/dcf.rst", category="DCF"),
        png="results/figures/dcf/{dcf_figure}.png",
    wildcard_constraints:
        dcf_figure="ball|rmae|ball-comparison|keff|neural-latents|stability",
    params:
        fig=DCF_FIGURE_PARAMS,
    log:
        "results/logs/dcf/figure_{dcf_figure}.log",
    benchmark:
        "results/benchmarks/dcf/figure_{dcf_figure}.tsv"
    conda:
        ENV
    shell:
        "neurodyn dcf figure {wildcards.dcf_figure:q} --inputs runs={input.runs:q} baselines={input.baselines:q} sessions={input.sessions:q} --params {params.fig:q} --out pdf={output.pdf:q} png={output.png:q} 2> {log:q}"


TARGETS += [f"results/figures/dcf/{w}.pdf" for w in DCF_FIGURE_INPUTS if dcf_figure_ok(w)]


# --- Tables and the scorecard fragment ---
# DCF Tables 1–2, cross-seed stability and the scorecard fragment (published numbers: report/published/dcf.yaml).
# Without the neural sessions (offline and no mirror) the tables still render, every neural row saying why.
DCF_NEURAL_WHY = next((f"session {s}: {why}" for s in DCF["neural"]["sessions"] if (why := SOURCES.unavailable_reason(s))), "")
DCF_TABLE_PARAMS = as_arg({"data": DCF["neural"]["data"], "report": {**DCF["report"], "ball_reference_variant": DCF["ball"]["reference_variant"], "user_video": DCF["user_video"], "stability_baselines": DCF["neural"]["stability_baselines"]},
                           **({} if DCF_NEURAL_OK else {"neural_unavailable": DCF_NEURAL_WHY})})


rule dcf_tables:
    input:
        dcf=DCF_SEED_RUNS if DCF_NEURAL_OK else [],
        baselines=DCF_NEURAL_BASELINES if DCF_NEURAL_OK else [],
        baseline_seeds=DCF_BASELINE_SEED_RUNS if DCF_NEURAL_OK else [],
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
    log:
        "results/logs/dcf/tables.log",
    benchmark:
        "results/benchmarks/dcf/tables.tsv"
    resources:
        mem_mb=8000,  # full MC_Maze: (2295 trials, 140 bins, 182 units) float64 spikes and rates for the NLB metrics
    conda:
        ENV
    shell:
        "neurodyn dcf tables --inputs dcf={input.dcf:q} baselines={input.baselines:q} baseline_seeds={input.baseline_seeds:q} ball={input.ball:q} videos={input.videos:q} --params {params.table:q} --out tables=results/tables/dcf scorecard={output.scorecard:q} 2> {log:q}"


TARGETS += ["results/tables/dcf/table1_velocity_r2.md", "results/tables/dcf/table2_rate_r2.md", "results/tables/dcf/nlb_metrics.md", "results/tables/dcf/stability.md", "results/scorecard/dcf.json"]
SCORECARD_FRAGMENTS.append("results/scorecard/dcf.json")
