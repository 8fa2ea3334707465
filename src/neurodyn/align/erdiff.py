"""Align a target session to a source model with one of ERDiff's Table 1 methods (ERDiff, ablations, baselines)."""

from __future__ import annotations

import argparse

import numpy as np
import torch

from neurodyn.config import parse_params
from neurodyn.errors import InputError
from neurodyn.models.erdiff import baselines
from neurodyn.models.erdiff.data import load_trials
from neurodyn.models.erdiff.runner import ERDIFF_VARIANTS, align, load_prior, load_vae, read_checkpoint
from neurodyn.runrecord import RunRecord
from neurodyn.utils.device import describe, pick_device
from neurodyn.utils.seed import seed_everything

METHODS = ["oracle", "oracle_matched", "no_align", *baselines.NAMES, *ERDIFF_VARIANTS]


def synthetic_scoring(source_latents: dict, sim_params: dict):
    """For the continuous-Bernoulli synthetic pair: map model latents to the true latent space with an affine map
    fitted on SOURCE trials only (model posterior means -> true source latents), then score target latents by the
    trial-average NLL under the true dynamics and the KLD to the true source latent distribution."""
    from neurodyn.models.erdiff.metrics import apply_affine, fit_affine, gaussian_kld, transition_nll
    from neurodyn.simulate.erdiff_bernoulli import DEFAULTS, dynamics_step

    p = {**DEFAULTS, **sim_params}
    keep = np.isin(np.asarray(source_latents["split"]), ["train", "val"])
    model = source_latents["mean"].numpy()[keep]
    true = source_latents["true_latents"].numpy()[keep]
    amap = fit_affine(model.reshape(-1, model.shape[-1]), true.reshape(-1, true.shape[-1]))

    def score(latents: np.ndarray) -> dict[str, float]:
        mapped = apply_affine(amap, latents)
        return {
            "nll": transition_nll(mapped, lambda z: dynamics_step(z, p), p["noise_sd"]),
            "kld": gaussian_kld(mapped, true),
        }

    return amap, score


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn align erdiff", description=__doc__)
    parser.add_argument("--method", required=True, choices=METHODS)
    parser.add_argument("--source-session", required=True)
    parser.add_argument("--target-session", required=True)
    parser.add_argument("--source-run", required=True, help="run record of `neurodyn train erdiff-source`")
    parser.add_argument("--prior-run", help="run record of `neurodyn train erdiff-prior` (ERDiff variants)")
    parser.add_argument("--params", required=True, help="JSON: {align, method, behaviour, device, pair, synthetic}")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    params = parse_params(args.params)
    if args.method in ERDIFF_VARIANTS and not args.prior_run:
        raise InputError("--prior-run", "", f"a prior run record for method {args.method}")
    device = pick_device(params.get("device", "auto"))
    seed_everything(args.seed)
    vae_payload = read_checkpoint(f"{args.source_run}/vae.pt")
    vae = load_vae(vae_payload, device)
    prior = load_prior(read_checkpoint(f"{args.prior_run}/prior.pt"), device) if args.prior_run else None
    synthetic = params.get("synthetic")
    source = load_trials(args.source_session, behaviour=params.get("behaviour"), need_behaviour=not synthetic)
    target = load_trials(args.target_session, behaviour=params.get("behaviour"), need_behaviour=not synthetic)
    if source.x.shape[1] != target.x.shape[1]:
        raise InputError(args.target_session, "time", f"{source.x.shape[1]} bins like the source session", got=target.x.shape[1])
    select_fn = score = None
    if synthetic:
        _, score = synthetic_scoring(read_checkpoint(f"{args.source_run}/latents.pt"), synthetic)
        select_fn = lambda latents, _trials: -score(latents)["nll"]  # noqa: E731 — higher is better
    record = RunRecord(args.out, {**params, "method": args.method}, args.seed, device=describe(device))
    result = align(method=args.method, vae=vae, vae_payload=vae_payload, source=source, target=target,
                   params=params["align"], method_params=params["method"], prior=prior, seed=args.seed,
                   device=device, record=record, select_fn=select_fn)
    metrics = result["metrics"]
    if synthetic:
        test = score(result["test_latents"].numpy())
        metrics.update({"test_nll_nats": test["nll"], "test_kld_nats": test["kld"]})
    record.save_torch("aligned.pt", {k: result[k] for k in ("read_in", "test_latents", "val_latents", "test_condition", "test_split_index")})
    record.finish(metrics, method=args.method, pair=params.get("pair"))
    return 0
