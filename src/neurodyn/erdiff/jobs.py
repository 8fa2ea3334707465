"""One ERDiff experiment unit in one process: for a (pair, latent dimension, seed), train the source VAE, the
diffusion priors the plan needs, and align the target with every planned (method, noise scale).

Why one job and not one per model: a job costs Snakemake ~1–2 s and Python + torch ~2 s before any work, and
the small models of ERDiff's Table 1 train in seconds — per-model jobs spent more time starting than training.
Each model still gets its own run record inside the job's folder:

    <out>/source/                   source VAE (vae.pt, latents.pt)
    <out>/prior_<variant>_n<noise>/  diffusion prior (prior.pt)
    <out>/<method>_n<noise>/         one alignment (aligned.pt; metrics: test_r2_pct, test_rmse, ...)
    <out>/metrics.json, run.json     the job itself (CPU and wall time per part)

The job works in ``<out>.partial/``; parts already finished there are reused when a killed job is re-run, and
an unfinished part resumes from its own checkpoint (``neurodyn.loop.fit``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from neurodyn.erdiff.plan import noise_tag
from neurodyn.errors import InputError
from neurodyn.models.erdiff.data import load_trials
from neurodyn.models.erdiff.runner import (
    ERDIFF_VARIANTS,
    ORACLES,
    PRIOR_OF,
    align,
    align_methods,
    load_prior,
    load_vae,
    posterior,
    read_checkpoint,
    train_prior,
    train_source,
)
from neurodyn.runrecord import RunRecord
from neurodyn.utils.device import describe, pick_device
from neurodyn.utils.seed import seed_everything
from neurodyn.utils.jobargs import add_job_arguments, parse_job_args

KEYS = ("vae", "prior", "align", "method", "plan", "behaviour", "device", "pair", "setting", "synthetic")


def _finished(path: Path) -> bool:
    return (path / "metrics.json").exists()


def run(params: dict, *, source_session: str, target_session: str, seed: int, out: str) -> dict:
    """Run the plan; returns the job's metrics (also written to ``<out>/metrics.json``)."""
    missing = [k for k in KEYS if k not in params]
    if missing:
        raise InputError("--params", missing[0], f"an ERDiff experiment spec with keys {', '.join(KEYS)}")
    plan = [(p["method"], float(p["noise"])) for p in params["plan"]]
    from neurodyn.models.erdiff.metrics import synthetic_scoring

    methods = align_methods()
    for method, _ in plan:
        if method not in methods:
            raise InputError("--params", "plan.method", f"one of {', '.join(methods)}", got=method)
    device = pick_device(params["device"])
    synthetic = params["synthetic"]
    source = load_trials(source_session, behaviour=params["behaviour"], need_behaviour=not synthetic)
    target = load_trials(target_session, behaviour=params["behaviour"], need_behaviour=not synthetic)
    if source.x.shape[1] != target.x.shape[1]:
        raise InputError(target_session, "time", f"{source.x.shape[1]} bins like the source session", got=target.x.shape[1])
    job = RunRecord(out, params, seed, device=describe(device), inputs=[source_session, target_session])
    root = job.partial
    cpu: dict[str, float] = {}

    def timed(label, fn):
        t0 = time.process_time()
        result = fn()
        cpu[label] = cpu.get(label, 0.0) + time.process_time() - t0
        return result

    # -- source VAE ------------------------------------------------------------------------------------------
    src_dir = root / "source"
    if not _finished(src_dir):
        seed_everything(seed)
        rec = RunRecord(src_dir, {"vae": params["vae"], "behaviour": params["behaviour"], "pair": params["pair"]}, seed, device=describe(device))
        vae, out_src = timed("source", lambda: train_source(source, params["vae"], seed=seed, device=device, record=rec))
        mean, _ = posterior(vae, torch.as_tensor(source.x, device=device))
        rec.save_torch("vae.pt", out_src["payload"])
        rec.save_torch("latents.pt", {"mean": mean, "condition": [str(c) for c in source.condition], "split": [str(s) for s in source.split],
                                      "true_latents": None if source.latents is None else torch.as_tensor(source.latents)})
        rec.finish(out_src["metrics"], session=source_session, n_channels=source.n_channels, kind=source.kind)
    vae_payload = read_checkpoint(src_dir / "vae.pt")
    vae = load_vae(vae_payload, device)

    # -- diffusion priors --------------------------------------------------------------------------------------
    priors = {}
    for variant, noise in sorted({(PRIOR_OF[m], n) for m, n in plan if m in ERDIFF_VARIANTS}):
        pdir = root / f"prior_{variant}_n{noise_tag(noise)}"
        if not _finished(pdir):
            seed_everything(seed)
            hp = {**params["prior"], "noise_scale": noise}
            rec = RunRecord(pdir, {"prior": hp, "variant": variant, "pair": params["pair"]}, seed, device=describe(device))
            _, out_p = timed(f"prior_{variant}", lambda: train_prior(vae, source, hp, variant=variant, seed=seed, device=device, record=rec))
            rec.save_torch("prior.pt", out_p["payload"])
            rec.finish(out_p["metrics"], variant=variant)
        priors[(variant, noise)] = load_prior(read_checkpoint(pdir / "prior.pt"), device)

    # -- alignments --------------------------------------------------------------------------------------------
    select_fn = score = None
    if synthetic:
        _, score = synthetic_scoring(read_checkpoint(src_dir / "latents.pt"), synthetic)
        select_fn = lambda latents, _trials: -score(latents)["nll"]  # noqa: E731 — higher is better
    # the matched oracle's read-in (supervised, and distributed like the source; else the plain oracle's) where it
    # ran: every label-free objective is also scored there, to tell an objective that prefers a wrong alignment
    # from an optimisation that missed the right one
    references: dict[str, dict] = {}

    def reference():
        return references.get("oracle_matched", references.get("oracle"))

    for method, noise in plan:
        adir = root / f"{method}_n{noise_tag(noise)}"
        if method in ORACLES and _finished(adir):
            references[method] = read_checkpoint(adir / "aligned.pt")["read_in"]
        if _finished(adir):
            continue
        seed_everything(seed)
        block = {} if method in ("no_align", "oracle") else params["method"]["erdiff" if method in ERDIFF_VARIANTS else method]
        cfg = {"align": params["align"], "method": block, "behaviour": params["behaviour"], "pair": params["pair"],
               "setting": params["setting"], "synthetic": synthetic, "noise_scale": noise}
        rec = RunRecord(adir, {**cfg, "method": method}, seed, device=describe(device))
        prior = priors.get((PRIOR_OF[method], noise)) if method in ERDIFF_VARIANTS else None
        result = timed(f"align_{method}", lambda: align(
            method=method, vae=vae, vae_payload=vae_payload, source=source, target=target, params=params["align"],
            method_params=block, prior=prior, seed=seed, device=device, record=rec, select_fn=select_fn,
            reference_read_in=reference()))
        metrics = result["metrics"]
        if synthetic:
            test = score(result["test_latents"].numpy())
            metrics.update({"test_nll_nats": test["nll"], "test_kld_nats": test["kld"]})
        rec.save_torch("aligned.pt", {k: result[k] for k in ("read_in", "test_latents", "val_latents", "test_condition", "test_split_index", "restart_read_ins")})
        if method in ORACLES:
            references[method] = result["read_in"]
        rec.finish(metrics, method=method, pair=params["pair"])
    metrics = {f"cpu_s_{k}": round(v, 3) for k, v in cpu.items()}
    metrics["cpu_s_total"] = round(time.process_time(), 3)
    metrics["n_alignments"] = len(plan)
    job.finish(metrics, pair=params["pair"], plan=[f"{m}_n{noise_tag(n)}" for m, n in plan])
    return metrics


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn erdiff experiment", description=__doc__.split("\n\n")[0])
    add_job_arguments(parser, inputs={"source_session": "1", "target_session": "1"},
                      params="JSON: {vae, prior, align, method, plan: [{method, noise}], behaviour, device, pair, setting, synthetic}",
                      out_help="the job folder: one run record per planned alignment")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the job's Snakemake threads)")
    args = parse_job_args(parser, argv)
    torch.set_num_threads(args.threads)
    run(args.params, source_session=args.inputs["source_session"], target_session=args.inputs["target_session"], seed=args.seed, out=args.out)
    return 0
