# Train stage. Each paper keeps its rules in its own block below.

# === ERDiff ===
# Run records: results/runs/erdiff/{pair}/d{dim}/s{seed}/{source | prior_<variant>_n<noise> | <method>_n<noise>}.
# dim = latent dimension, noise = the diffusion prior's noise scale: the main table uses the configured values,
# the robustness figure varies them. One job per model x seed (parallel on SLURM); resources gpu=0 on CPU is fine
# (pick_device takes a GPU when the job has one).
from neurodyn.utils.seed import derive_seed as _erd_derive_seed

ERD = config.get("erdiff", {})
ERD_RUNS = RESULTS + "/runs/erdiff"
ERD_VARIANT_OF = {"erdiff": "full", "erdiff_wo_s": "wo_s", "erdiff_wo_t": "wo_t"}


def erd_noise(x):
    return f"{float(x):g}"


def erd_pair(name):
    return ERD["pairs"][name]


def erd_vae(pair, dim):
    return {**ERD["vae"], **erd_pair(pair)["vae"], "latent_dim": int(dim)}


def erd_dim(pair):
    return int({**ERD["vae"], **erd_pair(pair)["vae"]}["latent_dim"])


def erd_seeds(pair):
    return erd_pair(pair).get("seeds", ERD["seeds"])


def erd_seed(pair, label):
    return _erd_derive_seed(config["seed"], "erdiff", pair, label)


def erd_available_pairs(setting=None):
    out = []
    for name, pair in ERD.get("pairs", {}).items():
        if setting is not None and pair["setting"] != setting:
            continue
        if setting is None and pair["setting"] == "synthetic":
            continue
        if len(available_sessions([pair["source"], pair["target"]])) == 2:
            out.append(name)
    return out


def erd_run(pair, dim, seed, leaf):
    return f"{ERD_RUNS}/{pair}/d{dim}/s{seed}/{leaf}"


def erd_align_run(pair, method, seed, dim=None, noise=None):
    dim = erd_dim(pair) if dim is None else dim
    noise = erd_noise(ERD["prior"]["noise_scale"] if noise is None else noise)
    return erd_run(pair, dim, seed, f"{method}_n{noise}")


wildcard_constraints:
    erd_pair="[A-Za-z0-9_]+",
    erd_dim="[0-9]+",
    erd_seed="[0-9]+",
    erd_noise="[0-9.]+(e-?[0-9]+)?",
    erd_variant="full|wo_s|wo_t",
    erd_method="no_align|cycle_gan|jsdm|sasa|dann|rdammd|daf|erdiff_wo_s|erdiff_wo_t|erdiff",


rule erdiff_train_source:
    input:
        lambda w: session_store(erd_pair(w.erd_pair)["source"]),
    output:
        directory(ERD_RUNS + "/{erd_pair}/d{erd_dim}/s{erd_seed}/source"),
    params:
        p=lambda w: as_arg({"vae": erd_vae(w.erd_pair, w.erd_dim), "behaviour": erd_pair(w.erd_pair)["behaviour"], "device": config["device"]}),
        seed=lambda w: erd_seed(w.erd_pair, w.erd_seed),
    log:
        "results/logs/erdiff/{erd_pair}/d{erd_dim}/s{erd_seed}/source.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
        gpu=0,
    conda:
        ENV
    shell:
        "neurodyn train erdiff-source --session {input} --params {params.p} --seed {params.seed} --out {output} 2> {log}"


rule erdiff_train_prior:
    input:
        session=lambda w: session_store(erd_pair(w.erd_pair)["source"]),
        source=ERD_RUNS + "/{erd_pair}/d{erd_dim}/s{erd_seed}/source",
    output:
        directory(ERD_RUNS + "/{erd_pair}/d{erd_dim}/s{erd_seed}/prior_{erd_variant}_n{erd_noise}"),
    params:
        p=lambda w: as_arg({"prior": {**ERD["prior"], "noise_scale": float(w.erd_noise)}, "behaviour": erd_pair(w.erd_pair)["behaviour"], "device": config["device"]}),
        seed=lambda w: erd_seed(w.erd_pair, w.erd_seed),
    log:
        "results/logs/erdiff/{erd_pair}/d{erd_dim}/s{erd_seed}/prior_{erd_variant}_n{erd_noise}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
        gpu=0,
    conda:
        ENV
    shell:
        "neurodyn train erdiff-prior --session {input.session} --source-run {input.source} --variant {wildcards.erd_variant}"
        " --params {params.p} --seed {params.seed} --out {output} 2> {log}"



# === Meta-dynamical SSM ===


# === DCF ===

