# Data stage: download (local rule: compute nodes are often offline), lock, convert NWB -> zarr session stores.


# the config schema's own patterns (neurodyn.config), unanchored as Snakemake wants them
wildcard_constraints:
    dandiset="[0-9]{6}",
    asset_path=ndc.ASSET_PATH_PATTERN[1:-1],
    session=ndc.NAME_PATTERN[1:-1],


localrules:
    download_asset,
    lock_dandisets,


rule download_asset:
    output:
        f"{RAW_DIR}/{{dandiset}}/{{asset_path}}",
    params:
        p=lambda w: as_arg({"asset": SOURCES.asset_spec(w.dandiset, w.asset_path), "dandi": config["dandi"], "offline": bool(config["offline"])}),
        mirror=config["mirror"] or "",
    log:
        "results/logs/download/{dandiset}/{asset_path}.log",
    benchmark:
        "results/benchmarks/download/{dandiset}/{asset_path}.tsv"
    retries: 1   # one fresh try after a failed verification; network hiccups are retried inside (dandi.retries)
    conda:
        ENV
    shell:
        "neurodyn download --inputs mirror={params.mirror:q} --params {params.p:q} --out {output:q} 2> {log:q}"


# Not part of `rule all`: run it on purpose, online, once (`snakemake --cores 1 config/dandi.lock.yaml`), and
# commit the lock file. Without it, locked sessions still download, verified against the archive's metadata.
rule lock_dandisets:
    output:
        config["dandi"]["lock_file"],
    params:
        p=as_arg({"unpinned": SOURCES.unpinned(), "dandi": config["dandi"]}),
    log:
        "results/logs/lock.log",
    benchmark:
        "results/benchmarks/lock.tsv"
    conda:
        ENV
    shell:
        "neurodyn lock --params {params.p:q} --out {output:q} 2> {log:q}"


rule convert_session:
    input:
        lambda w: SOURCES.input_file(w.session),
    output:
        directory("results/sessions/{session}.zarr"),
    params:
        spec=lambda w: as_arg(SOURCES.convert_spec(w.session)),
    log:
        "results/logs/convert/{session}.log",
    benchmark:
        "results/benchmarks/convert/{session}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        ENV
    shell:
        "neurodyn convert --inputs source={input:q} --params {params.spec:q} --out {output:q} 2> {log:q}"
