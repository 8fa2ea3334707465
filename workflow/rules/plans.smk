# Planning helpers (no rules here): which sessions, runs and manifests each paper's experiments need.
# Included right after common.smk, so every stage file can use them.


# === Meta-dynamical SSM === (the plan itself: neurodyn.metadyn.plan, unit-tested; these bind it to this config)
from neurodyn.data.families import expand as _md_expand
from neurodyn.metadyn import plan as _mdp

MD = config.get("metadyn", {})
MDP = _mdp.MetadynPlan(MD, sessions=SOURCES.sessions, store_of=session_store, buildable=available_sessions,
                       expand=lambda names: _md_expand(config, names), device=config["device"])
MD_EXP = MDP.experiments
MD_FIG = MDP.figures
MD_FIGURES = _mdp.FIGURES
MD_BUILD = MDP.build
MD_NAME_TO_WHICH = _mdp.NAME_TO_WHICH
MD_VARIANTS = "|".join(_mdp.VARIANT_CONDITIONING)

md_run = _mdp.run_dir
md_flat = _mdp.flat
md_train_params = MDP.train_params
md_transfer_params = MDP.transfer_params
md_runs = MDP.runs
md_part = MDP.part
md_manifest = MDP.manifest
md_inputs = MDP.inputs

def md_seed(exp, label):
    return _mdp.job_seed(config["seed"], exp, label)


# === ERDiff === (the plan itself: neurodyn.erdiff.plan, unit-tested; these bind it to this config)
from neurodyn.erdiff import plan as _erdp

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

def erd_spec(**extra):
    pairs = {name: {"setting": ERD["pairs"][name]["setting"], "source": ERD["pairs"][name]["source"], "target": ERD["pairs"][name]["target"]} for name in ERD.get("pairs", {})}
    missing = {}
    for name, pair in ERD.get("pairs", {}).items():
        for s in (pair["source"], pair["target"]):
            reason = SOURCES.unavailable_reason(s)
            if reason:
                missing[name] = reason
    return as_arg({"methods": ERD["methods"], "pairs": pairs, "available": ERD_PAIRS_REAL + ERD_PAIRS_SYN,
                   "unavailable": missing, "scorecard": ERD["scorecard"], **extra})

def erd_latents_runs():
    return _erdp.latents_runs(ERD)

def erd_latents_source():
    return _erdp.latents_source(ERD)

def erd_robustness_runs():
    return _erdp.robustness_runs(ERD, ERD_PAIRS_REAL)

def erd_synthetic_sources():
    return _erdp.synthetic_sources(ERD, ERD_PAIRS_SYN)


