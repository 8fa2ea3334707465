"""Train ERDiff's source VAE (Poisson or continuous-Bernoulli sequential VAE + behaviour readout) on a session."""

from __future__ import annotations

import argparse

import torch

from neurodyn.config import parse_params
from neurodyn.models.erdiff.data import load_trials
from neurodyn.models.erdiff.runner import posterior, train_source
from neurodyn.runrecord import RunRecord
from neurodyn.utils.device import describe, pick_device
from neurodyn.utils.seed import seed_everything


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn train erdiff-source", description=__doc__)
    parser.add_argument("--session", required=True, help="source session store (.zarr)")
    parser.add_argument("--params", required=True, help="JSON: {vae: {...}, behaviour: name|null, device: ...}")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True, help="run record folder")
    args = parser.parse_args(argv)
    params = parse_params(args.params)
    trials = load_trials(args.session, behaviour=params.get("behaviour"))
    device = pick_device(params.get("device", "auto"))
    seed_everything(args.seed)
    record = RunRecord(args.out, params, args.seed, device=describe(device))
    vae, out = train_source(trials, params["vae"], seed=args.seed, device=device, record=record)
    mean, _ = posterior(vae, torch.as_tensor(trials.x, device=device))
    record.save_torch("vae.pt", out["payload"])
    # latents of every source trial, for the figures (trial-averaged latents per condition, synthetic map)
    record.save_torch("latents.pt", {"mean": mean, "condition": [str(c) for c in trials.condition], "split": [str(s) for s in trials.split],
                                     "true_latents": None if trials.latents is None else torch.as_tensor(trials.latents)})
    record.finish(out["metrics"], session=args.session, n_channels=trials.n_channels, kind=trials.kind)
    return 0
