# Simulation stage: a paper's synthetic recording is written as an NWB file in the NLB layout, then converted
# by the same `convert_session` rule as any real recording.


rule simulate_session:
    output:
        "results/simulated/{session}.nwb",
    params:
        generator=lambda w: SOURCES.simulation(w.session)["generator"],
        params=lambda w: as_arg(SOURCES.simulation(w.session)["params"]),
        seed=lambda w: SOURCES.seed_for(w.session),
    log:
        "results/logs/simulate/{session}.log",
    benchmark:
        "results/benchmarks/simulate/{session}.tsv"
    conda:
        ENV
    shell:
        "neurodyn simulate {params.generator:q} --params {params.params:q} --seed {params.seed:q} --name {wildcards.session:q} --out {output:q} 2> {log:q}"
