"""Few-shot transfer of a Meta-Dynamical SSM to held-out recordings, and the single-dataset baseline.

``neurodyn transfer metadyn --targets T.zarr … --params JSON --seed S --out DIR [--pretrained RUN]``

For each target recording and each k in ``fewshot.ks`` (Vermani et al., ICLR 2025, §4.3 "few-shot learning"):
- pretrained variants (``meta`` = hypernetwork, ``input`` = embedding as input, ``shared`` = no embedding):
  a fresh copy of the pretrained model gets a new read-in/readout for the target; only those are fitted on
  k training trials (the ELBO of eq. 8 with the shared dynamics, encoders and embedding encoder frozen), and e
  is inferred by the embedding encoder from the same k trials;
- ``single``: the same architecture without embedding, every parameter trained on the k trials only.
Then reconstruction and forecasting r² on the target's evaluation trials
(:func:`neurodyn.train.metadyn.evaluate_dataset`). Metrics: ``<target>.k<k>.{recon_r2, forecast_r2,
mean_rate_r2, collapsed}``; k larger than the target's trial pool is skipped and listed in run.json.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np
import torch

from neurodyn.errors import InputError


def main(argv: list[str]) -> int:
    from neurodyn.config import parse_params
    from neurodyn.models.metadyn_data import choose_trials
    from neurodyn.runrecord import RunRecord, read_config
    from neurodyn.loop import fit
    from neurodyn.models.metadyn import build_model
    from neurodyn.models.metadyn_data import load_all
    from neurodyn.train.metadyn import evaluate_dataset, make_step_fn
    from neurodyn.utils.device import describe, pick_device
    from neurodyn.utils.seed import derive_seed, seed_everything

    parser = argparse.ArgumentParser(prog="neurodyn transfer metadyn", description=__doc__.splitlines()[0])
    parser.add_argument("--targets", nargs="+", required=True, help="held-out session stores (.zarr)")
    parser.add_argument("--pretrained", help="run record of `neurodyn train metadyn` (absent for variant single)")
    parser.add_argument("--params", required=True, help="config slice as JSON")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    params = parse_params(args.params)
    variant = params["variant"]
    if variant == "single":
        base = params
        checkpoint = None
    else:
        if not args.pretrained:
            raise InputError("--pretrained", "", f"a pretrained run record for variant {variant!r}")
        base = read_config(args.pretrained)
        checkpoint = torch.load(f"{args.pretrained}/model.pt", weights_only=True, map_location="cpu")
    seed_everything(args.seed)
    device = pick_device(params.get("device", "auto"))
    targets = load_all(args.targets, base)
    record = RunRecord(args.out, params, args.seed, device=describe(device), inputs=[*args.targets, *([args.pretrained] if args.pretrained else [])])
    fs = params["fewshot"]
    metrics: dict[str, Any] = {}
    skipped: list[str] = []
    embeddings: dict[str, dict[str, list[float]]] = {}
    for data in targets:
        pool, evaluation = choose_trials(data, seed=derive_seed(args.seed, "split", data.name), eval_fraction=base["forecast"]["eval_fraction"])
        for k in fs["ks"]:
            if k > len(pool):
                skipped.append(f"{data.name} k={k}: only {len(pool)} training trials")
                continue
            rng = np.random.default_rng(derive_seed(args.seed, "fewshot", data.name, k))
            chosen = np.sort(rng.choice(pool, size=k, replace=False))
            # each (target, k) fit draws its own initial weights and ELBO noise: its result does not depend on
            # which targets or k came before it in this run
            torch.manual_seed(derive_seed(args.seed, "init", data.name, k))
            if checkpoint is None:
                model = build_model(base["model"], [data.y.shape[-1]], base["likelihood"], "none").to(device)
                d, trainable, n_steps = 0, list(model.parameters()), fs["single_steps"]
                model.init_dataset(d, torch.as_tensor(data.y[chosen], device=device))
            else:
                model = build_model(base["model"], checkpoint["n_channels"], base["likelihood"], base["conditioning"])
                model.load_pretrained(checkpoint["state_dict"])
                d = model.add_dataset(data.y.shape[-1])
                model = model.to(device)
                model.init_transfer(d, torch.as_tensor(data.y[chosen], device=device))
                for p in model.parameters():
                    p.requires_grad_(False)
                trainable = model.dataset_parameters(d)
                for p in trainable:
                    p.requires_grad_(True)
                n_steps = fs["n_steps"]
            step_fn = make_step_fn(model, [(d, data.y[chosen])], batch_trials=fs["batch_trials"],
                                   kl_warmup_steps=fs["kl_warmup_steps"], device=device)
            optimizer = torch.optim.Adam(trainable, lr=fs["lr"])
            fit(modules={"model": model}, optimizer=optimizer, step_fn=step_fn, n_steps=n_steps, record=None,
                seed=derive_seed(args.seed, "fit", data.name, k), label=f"metadyn few-shot {variant} {data.name} k={k}",
                checkpoint_every=0, clip_grad=base["train"]["clip_grad"])
            ev = evaluate_dataset(model, d, data, embed_trials=chosen, eval_trials=evaluation, forecast=base["forecast"], device=device)
            metrics.update({f"{data.name}.k{k}.{key}": v for key, v in ev.items()})
            if model.embed_dim:
                with torch.no_grad():
                    y = torch.as_tensor(data.y[chosen], device=device)
                    mu, lv = model.embedding_posterior(d, y, torch.full((k,), y.shape[1], device=device))
                embeddings.setdefault(data.name, {})[str(k)] = mu.cpu().tolist() + lv.cpu().tolist()
    metrics["collapsed_fits"] = sum(int(v) for key, v in metrics.items() if key.endswith(".collapsed"))
    record.path("embeddings.json").write_text(json.dumps(embeddings, indent=2))
    record.finish(metrics, variant=variant, pretrained=args.pretrained, targets=list(args.targets), skipped=skipped)
    return 0
