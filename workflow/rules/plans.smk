# Planning helpers (no rules here): which sessions, runs and manifests each paper's experiments need.
# Included right after common.smk, so every stage file can use them.


# === Meta-dynamical SSM ===
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
    return f"results/runs/metadyn/{kind}/{exp}/{variant}/seed{seed}"


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


def md_transfer_params(exp, variant):
    return {**md_train_params(exp, variant), "fewshot": MD_EXP[exp]["fewshot"]}


MD_FIG = MD.get("figures", {})


def md_part(exp):
    """Run records and stores of one experiment, for a manifest."""
    if exp not in MD_EXP:
        return {"M": 0, "train": {}, "transfer": {}, "stores": [], "values": []}
    e = MD_EXP[exp]
    values = md_train_params(exp, "meta")["family_values"] or []
    return {
        "M": len(e["sessions"]), "train": md_runs("train", exp), "transfer": md_runs("transfer", exp),
        "stores": [session_store(s) for s in e["sessions"]], "values": values, "family_param": e["family_param"],
    }


def md_manifest(which):
    few, many = md_part(MD_FIG.get("few")), md_part(MD_FIG.get("many"))
    if which == "fig2":
        order = sorted(range(len(many["values"])), key=lambda i: many["values"][i])
        pick = [order[0], order[len(order) // 2], order[-1]] if order else []
        return {"few": few, "many": many, "examples": [many["stores"][i] for i in pick],
                "example_values": [many["values"][i] for i in pick]}
    if which == "fig3":
        return {"few": few, "many": many, "horizon": MD_EXP.get(MD_FIG.get("many"), {}).get("forecast", {}).get("horizon_bins")}
    if which == "fig4":
        exp = MD_FIG.get("bifurcation")
        part = md_part(exp)
        fam = MD_EXP[exp]["sessions"] if exp in MD_EXP else []
        sims = [SOURCES.sessions[s]["source"]["simulate"]["params"] for s in fam]
        part["values"] = [[p["a"], p["b"]] for p in sims]
        part["omega0"] = sims[0].get("omega0", 3.0) if sims else 3.0
        part["time_scale"] = sims[0].get("time_scale", 2.0) if sims else 2.0
        return part
    if which == "fig5":
        return md_part(MD_FIG.get("motor"))
    # few-shot curves, tables and the scorecard
    ks = MD.get("fewshot", {}).get("ks", [])
    out = {
        "experiments": {x: md_part(x) for x in MD_EXP if MD_EXP[x]["targets"]},
        "ks": sorted({k for x in MD_EXP.values() for k in x["fewshot"]["ks"]}) or ks,
    }
    if which == "scorecard":
        out.update(few=few, many=many, horizon=MD_EXP.get(MD_FIG.get("many"), {}).get("forecast", {}).get("horizon_bins"))
        motor = MD_FIG.get("motor")
        out["motor"] = md_part(motor) if motor in MD_EXP else None
        out["bif"] = md_part(MD_FIG.get("bifurcation"))
    return out


def md_inputs(which):
    man = md_manifest(which)
    parts = [man] if "train" in man else [v for v in man.values() if isinstance(v, dict) and "train" in v]
    parts += list(man.get("experiments", {}).values())
    runs = sorted({r for p in parts for r in md_flat({"a": p["train"], "b": p["transfer"]})})
    stores = sorted({s for p in parts for s in p.get("stores", [])} | set(man.get("examples", [])))
    return runs + stores


MD_FIGURES = {
    "fig2": ("fig2_limit_cycle_shared", "Fig 2 — limit cycles of different speed; one dynamics without embedding, M small vs large"),
    "fig3": ("fig3_embedding", "Fig 3 — embedding-conditioned dynamics: slowest recording, q(e) per dataset, forecast r² M small vs large"),
    "fig4": ("fig4_bifurcation", "Fig 4 — true vs embedding-conditioned dynamics across (a, b); r² per pretraining dataset"),
    "fig5": ("fig5_motor", "Fig 5 — motor cortex: embedding manifold, condition-averaged latents, real vs forecast behaviour"),
    "fewshot": ("fewshot_curves", "Few-shot reconstruction and forecasting r² vs number of trials"),
}
MD_BUILD = {
    "fig2": MD_FIG.get("few") in MD_EXP and MD_FIG.get("many") in MD_EXP,
    "fig3": MD_FIG.get("few") in MD_EXP and MD_FIG.get("many") in MD_EXP,
    "fig4": MD_FIG.get("bifurcation") in MD_EXP,
    "fig5": MD_FIG.get("motor") in MD_EXP,
    "fewshot": any(x["targets"] for x in MD_EXP.values()),
}
for _which, _ok in MD_BUILD.items():
    if not _ok:
        print(f"neurodyn: metadyn {_which}: its experiments cannot run here (see the notes above); not built", file=sys.stderr)
MD_NAME_TO_WHICH = {name: which for which, (name, _) in MD_FIGURES.items()}


# === ERDiff === (the plan itself: neurodyn.erdiff.plan, unit-tested; these bind it to this config)
from neurodyn.erdiff import plan as _erdp
from neurodyn.utils.seed import derive_seed as _erd_derive_seed

ERD = config.get("erdiff", {})
ERD_RUNS = _erdp.RUNS
ERD_VARIANTS = _erdp.PRIOR_VARIANTS

erd_noise = _erdp.noise_tag
erd_jobs_of = _erdp.jobs_of
erd_job = _erdp.job_dir
erd_run = _erdp.run_dir

def erd_pair(name):
    return ERD["pairs"][name]

def erd_vae(pair, dim):
    return _erdp.pair_vae(ERD, pair, dim)

def erd_dim(pair):
    return _erdp.main_dim(ERD, pair)

def erd_seeds(pair):
    return _erdp.seeds(ERD, pair)

def erd_seed(pair, label):
    return _erdp.job_seed(config["seed"], pair, label)

def dcf_seed(*labels):
    """A DCF job's seed, from config seed like every other paper's (e.g. dcf_seed("neural", "vae", 3))."""
    return _erd_derive_seed(config["seed"], "dcf", *labels)

def erd_align_run(pair, method, seed, dim=None, noise=None):
    return _erdp.align_run(ERD, pair, method, seed, dim, noise)

def erd_plan(pair, dim, seed):
    return _erdp.job_plan(ERD, pair, dim, seed)

def erd_job_inputs(w):
    pair = erd_pair(w.erd_pair)
    return {"source_session": session_store(pair["source"]), "target_session": session_store(pair["target"])}

def erd_job_params(w):
    pair = erd_pair(w.erd_pair)
    synthetic = SOURCES.simulation(pair["target"])["params"] if pair["setting"] == "synthetic" else None
    return as_arg({"vae": erd_vae(w.erd_pair, w.erd_dim), "prior": ERD["prior"], "align": ERD["align"], "method": ERD["method"],
                   "plan": erd_plan(w.erd_pair, w.erd_dim, w.erd_seed), "behaviour": pair["behaviour"], "device": config["device"],
                   "pair": w.erd_pair, "setting": pair["setting"], "synthetic": synthetic})

_erd_can_build = lambda names: len(available_sessions(names)) == len(names)
ERD_PAIRS_REAL = _erdp.available_pairs(ERD, _erd_can_build) if ERD else []
ERD_PAIRS_SYN = _erdp.available_pairs(ERD, _erd_can_build, "synthetic") if ERD else []

def erd_table_runs(pairs):
    return _erdp.table_runs(ERD, pairs)

def erd_spec():
    pairs = {name: {"setting": ERD["pairs"][name]["setting"], "source": ERD["pairs"][name]["source"], "target": ERD["pairs"][name]["target"]} for name in ERD.get("pairs", {})}
    missing = {}
    for name, pair in ERD.get("pairs", {}).items():
        for s in (pair["source"], pair["target"]):
            reason = SOURCES.unavailable_reason(s)
            if reason:
                missing[name] = reason
    return as_arg({"methods": ERD["methods"], "pairs": pairs, "available": ERD_PAIRS_REAL + ERD_PAIRS_SYN,
                   "unavailable": missing, "scorecard": ERD["scorecard"]})

def erd_latents_runs():
    return _erdp.latents_runs(ERD)

def erd_latents_source():
    return _erdp.latents_source(ERD)

def erd_robustness_runs():
    return _erdp.robustness_runs(ERD, ERD_PAIRS_REAL)

def erd_synthetic_sources():
    return _erdp.synthetic_sources(ERD, ERD_PAIRS_SYN)


# === DCF ===
