"""Train ERDiff's spatio-temporal diffusion prior (full, w/o S or w/o T) on a source VAE's latents."""

from __future__ import annotations

import argparse


from neurodyn.config import parse_params
from neurodyn.models.erdiff.data import load_trials
from neurodyn.models.erdiff.runner import VARIANT_LAYERS, load_vae, read_checkpoint, train_prior
from neurodyn.runrecord import RunRecord
from neurodyn.utils.device import describe, pick_device
from neurodyn.utils.seed import seed_everything


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn train erdiff-prior", description=__doc__)
    parser.add_argument("--session", required=True, help="source session store (.zarr)")
    parser.add_argument("--source-run", required=True, help="run record of `neurodyn train erdiff-source`")
    parser.add_argument("--variant", required=True, choices=sorted(VARIANT_LAYERS))
    parser.add_argument("--params", required=True, help="JSON: {prior: {...}, behaviour, device}")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    params = parse_params(args.params)
    device = pick_device(params.get("device", "auto"))
    seed_everything(args.seed)
    trials = load_trials(args.session, behaviour=params.get("behaviour"))
    vae = load_vae(read_checkpoint(f"{args.source_run}/vae.pt"), device)
    record = RunRecord(args.out, {**params, "variant": args.variant}, args.seed, device=describe(device))
    _, out = train_prior(vae, trials, params["prior"], variant=args.variant, seed=args.seed, device=device, record=record)
    record.save_torch("prior.pt", out["payload"])
    record.finish(out["metrics"], variant=args.variant)
    return 0
