# Train stage. Each paper keeps its rules in its own block below.

# === ERDiff ===


# === Meta-dynamical SSM ===
# Helpers shared by the Meta-dynamical SSM blocks of transfer/figures/report.smk (this file is included first).
from neurodyn.config import merge as _md_merge
from neurodyn.data.families import expand as _md_expand
from neurodyn.utils.seed import derive_seed as _md_seed

MD = config.get("metadyn", {})
MD_CONDITIONING = {"meta": "hyper", "input": "input", "shared": "none"}


def _md_resolve(name, spec):
    """An experiment with defaults filled in and its sessions reduced to those buildable here."""
    exp = {k: _md_merge(MD[k], spec.get(k, {})) for k in ("model", "train", "forecast", "fewshot")}
    exp.update({k: spec[k] for k in ("variants", "likelihood")})
    exp["seeds"] = spec.get("seeds", MD["seeds"])
    exp["data"] = spec.get("data", {})
    exp["family_param"] = spec.get("family_param")
    for key in ("sessions", "targets"):
        names = [n for n in _md_expand(config, spec[key]) if n in SOURCES.sessions]
        missing = sorted(set(_md_expand(config, spec[key])) - set(names))
        if missing:
            print(f"neurodyn: metadyn {name}: sessions not configured, left out: {', '.join(missing)}", file=sys.stderr)
        exp[key] = available_sessions(names)
    return exp


MD_EXP = {}
for _name, _spec in MD.get("experiments", {}).items():
    _exp = _md_resolve(_name, _spec)
    if _exp["sessions"]:
        MD_EXP[_name] = _exp
    else:
        print(f"neurodyn: metadyn experiment {_name}: no pretraining session can be built here; skipped", file=sys.stderr)


def md_train_params(exp, variant):
    e = MD_EXP[exp]
    values = None
    if e["family_param"]:
        values = [SOURCES.sessions[s]["source"].get("simulate", {}).get("params", {}).get(e["family_param"]) for s in e["sessions"]]
    return {
        "experiment": exp, "variant": variant, "conditioning": MD_CONDITIONING.get(variant, "none"),
        "likelihood": e["likelihood"], "device": config["device"], "model": e["model"], "train": e["train"],
        "forecast": e["forecast"], "data": e["data"], "family_param": e["family_param"], "family_values": values,
    }


def md_run(kind, exp, variant, seed):
    return f"{RESULTS}/runs/metadyn/{kind}/{exp}/{variant}/seed{seed}"


def md_runs(kind, exp, variants=None):
    """{variant: [run dirs over seeds]} of an experiment (train runs exist for every variant but single)."""
    if exp not in MD_EXP:
        return {}
    e = MD_EXP[exp]
    out = {}
    for v in variants or e["variants"]:
        if v not in e["variants"] or (kind == "train" and v == "single") or (kind == "transfer" and not e["targets"]):
            continue
        out[v] = [md_run(kind, exp, v, s) for s in e["seeds"]]
    return out


def md_flat(manifest):
    """Every run dir named in a manifest {..: {variant: [dirs]}} (the DAG inputs of a figure or table)."""
    out = []
    for part in manifest.values():
        if isinstance(part, dict):
            for dirs in part.values():
                out.extend(dirs if isinstance(dirs, list) else [])
    return out


wildcard_constraints:
    md_exp="[A-Za-z0-9_]+",
    md_variant="meta|input|shared|single",
    md_seed="[0-9]+",


rule metadyn_train:
    input:
        lambda w: [session_store(s) for s in MD_EXP[w.md_exp]["sessions"]],
    output:
        directory(RESULTS + "/runs/metadyn/train/{md_exp}/{md_variant}/seed{md_seed}"),
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

