"""ERDiff's experiment plan as pure functions of the config's ``erdiff`` block: which (pair, latent dimension,
seed) jobs exist, the methods each job runs, the run folders tables and figures read, and every seed.

``workflow/rules/plans.smk`` calls these and nothing else decides them (docs/contracts.md: one job per
(pair, dim, seed) writes ``results/runs/erdiff/<pair>/d<dim>/s<seed>/<method>_n<noise>/``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any

from neurodyn.utils.seed import derive_seed

RUNS = "results/runs/erdiff"
PRIOR_VARIANTS = ("erdiff", "erdiff_wo_s", "erdiff_wo_t")
ORACLES = ("oracle", "oracle_matched")  # supervised reference rows: they need target behaviour

Erd = Mapping[str, Any]


def noise_tag(x: float) -> str:
    """How a noise scale appears in run-folder names: 1.0 -> "1", 0.5 -> "0.5"."""
    return f"{float(x):g}"


def pair_vae(erd: Erd, pair: str, dim: int | str) -> dict[str, Any]:
    """The source VAE's hyperparameters for a pair at latent dimension ``dim`` (pair overrides win)."""
    return {**erd["vae"], **erd["pairs"][pair]["vae"], "latent_dim": int(dim)}


def main_dim(erd: Erd, pair: str) -> int:
    """The latent dimension of a pair's Table 1 row (erdiff.vae, overridden by the pair's vae block)."""
    return int({**erd["vae"], **erd["pairs"][pair]["vae"]}["latent_dim"])


def seeds(erd: Erd, pair: str) -> list[int]:
    """The repeat labels of a pair (its own ``seeds``, else erdiff.seeds)."""
    return list(erd["pairs"][pair].get("seeds", erd["seeds"]))


def job_seed(base_seed: int, pair: str, label: int | str) -> int:
    """The seed a job of repeat ``label`` runs with, derived from config ``seed``."""
    return derive_seed(base_seed, "erdiff", pair, label)


def job_dir(pair: str, dim: int | str, seed: int | str) -> str:
    """The folder of one experiment job: source VAE, priors and every planned alignment of (pair, dim, seed)."""
    return f"{RUNS}/{pair}/d{dim}/s{seed}"


def run_dir(pair: str, dim: int | str, seed: int | str, leaf: str) -> str:
    return f"{job_dir(pair, dim, seed)}/{leaf}"


def align_run(erd: Erd, pair: str, method: str, seed: int | str, dim: int | None = None, noise: float | None = None) -> str:
    """The run record of one alignment; dim and noise default to the pair's main ones."""
    dim = main_dim(erd, pair) if dim is None else dim
    noise = erd["prior"]["noise_scale"] if noise is None else noise
    return run_dir(pair, dim, seed, f"{method}_n{noise_tag(noise)}")


def _has_oracle(erd: Erd, pair: str) -> bool:
    """The oracles regress target behaviour: not for pairs without one (the synthetic pair)."""
    return erd["pairs"][pair]["setting"] != "synthetic"


def job_plan(erd: Erd, pair: str, dim: int | str, seed: int | str) -> list[dict[str, Any]]:
    """[{method, noise}] one job runs, in order, without repeats: Table 1 (main dim, every method), the latents
    figure's methods, and the robustness sweep's points that fall in this job."""
    dim, seed = int(dim), int(seed)
    main, main_noise = main_dim(erd, pair), float(erd["prior"]["noise_scale"])
    plan: list[tuple[str, float]] = []
    if dim == main and seed in seeds(erd, pair):
        plan += [(m, main_noise) for m in erd["methods"] if m not in ORACLES or _has_oracle(erd, pair)]
    lf = erd.get("latents_figure", {})
    if lf.get("pair") == pair and dim == main and seed == lf.get("seed"):
        plan += [(m, main_noise) for m in lf["methods"]]
    rb = erd.get("robustness", {})
    if rb.get("pair") == pair and seed in rb.get("seeds", []):
        if dim in rb["latent_dims"]:
            plan += [("erdiff", main_noise), (rb["baseline"], main_noise)]
        if dim == main:
            plan += [("erdiff", float(n)) for n in rb["noise_scales"]] + [(rb["baseline"], main_noise)]
    seen: set[tuple[str, str]] = set()
    out = []
    for m, n in plan:
        if (m, noise_tag(n)) not in seen:
            seen.add((m, noise_tag(n)))
            out.append({"method": m, "noise": float(n)})
    return out


def available_pairs(erd: Erd, can_build: Callable[[list[str]], bool], setting: str | None = None) -> list[str]:
    """Pairs whose two sessions ``can_build`` here; ``setting`` None: the real pairs (not synthetic)."""
    out = []
    for name, pair in erd.get("pairs", {}).items():
        if setting is not None and pair["setting"] != setting:
            continue
        if setting is None and pair["setting"] == "synthetic":
            continue
        if can_build([pair["source"], pair["target"]]):
            out.append(name)
    return out


def table_runs(erd: Erd, pairs: Iterable[str]) -> list[str]:
    """The per-method run records of Table 1 (inside the job folders)."""
    return [align_run(erd, p, m, s) for p in pairs for m in erd["methods"] for s in seeds(erd, p)
            if m not in ORACLES or _has_oracle(erd, p)]


def jobs_of(runs: Iterable[str]) -> list[str]:
    """The job folders (the DAG's inputs) that hold the given run records."""
    return sorted({str(PurePosixPath(r).parent) for r in runs})


def latents_runs(erd: Erd) -> list[str]:
    lf = erd["latents_figure"]
    return [align_run(erd, lf["pair"], m, lf["seed"]) for m in lf["methods"]]


def latents_source(erd: Erd) -> str:
    lf = erd["latents_figure"]
    return run_dir(lf["pair"], main_dim(erd, lf["pair"]), lf["seed"], "source")


def robustness_runs(erd: Erd, real_pairs: Iterable[str]) -> list[str]:
    """Fig 2's run records (latent-dimension and noise-scale sweeps, with the baseline at each point); none
    when its pair cannot be built here."""
    rb = erd["robustness"]
    pair, noise = rb["pair"], erd["prior"]["noise_scale"]
    if pair not in set(real_pairs):
        return []
    main = main_dim(erd, pair)
    runs = []
    for s in rb["seeds"]:
        for d in rb["latent_dims"]:
            runs += [align_run(erd, pair, "erdiff", s, d, noise), align_run(erd, pair, rb["baseline"], s, d, noise)]
        runs += [align_run(erd, pair, "erdiff", s, main, n) for n in rb["noise_scales"]]
        runs.append(align_run(erd, pair, rb["baseline"], s, main, noise))
    return sorted(set(runs))


def synthetic_sources(erd: Erd, synthetic_pairs: Iterable[str]) -> list[str]:
    """The source-VAE run records of the synthetic pairs (the synthetic figure's true dynamics)."""
    return [run_dir(p, main_dim(erd, p), s, "source") for p in synthetic_pairs for s in seeds(erd, p)]
