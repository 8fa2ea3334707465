"""The Meta-dynamical SSM's jobs (Vermani et al., ICLR 2025): pretraining on a family of recordings, few-shot transfer to a held-out one.

- ``train``: Train a Meta-Dynamical SSM (or its no-embedding / embedding-as-input baselines) on M session stores.
- ``transfer``: Few-shot transfer of a Meta-Dynamical SSM to held-out recordings, and the single-dataset baseline.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from neurodyn.errors import InputError
from neurodyn.loop import fit
from neurodyn.models.metadyn import Batch, MetaDynamicalSSM, build_model
from neurodyn.models.metadyn_data import SessionData, choose_trials, gaussian_smooth, load_all, r2_pooled
from neurodyn.runrecord import RunRecord, read_config
from neurodyn.utils.device import describe, pick_device
from neurodyn.utils.seed import derive_seed, seed_everything
from neurodyn.utils.jobargs import add_job_arguments, parse_job_args


TRAIN_DOC = """Train a Meta-Dynamical SSM (or its no-embedding / embedding-as-input baselines) on M session stores.

``neurodyn metadyn train --sessions A.zarr B.zarr … --params JSON --seed S --out results/runs/metadyn/…``

The run record holds ``model.pt`` ({"state_dict", "n_channels", "sessions"}), ``embeddings.json`` (posterior
mean and log-variance of e per dataset) and metrics per dataset on its test trials: ``<name>.recon_r2``,
``<name>.forecast_r2`` (definitions in :func:`evaluate_dataset`), the mean-rate collapse check for Poisson data,
and ``embedding_spearman_<param>`` when the sessions come from a synthetic family."""


def make_step_fn(
    model: MetaDynamicalSSM,
    datasets: Sequence[tuple[int, np.ndarray]],
    *,
    batch_trials: int,
    kl_warmup_steps: int,
    device: torch.device,
):
    """step_fn for ``neurodyn.loop.fit``: each step draws ``batch_trials`` trials of every dataset with ``gen``.

    datasets: (model dataset index, y (n_trials, T, N) of its training trials).
    """
    tensors = [(d, torch.as_tensor(y, device=device)) for d, y in datasets]

    def step(step: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        batches = []
        for d, y in tensors:
            n = y.shape[0]
            idx = torch.randperm(n, generator=gen)[: min(batch_trials, n)].to(device)
            yb = y[idx]
            lengths = torch.full((yb.shape[0],), yb.shape[1], dtype=torch.long, device=device)
            batches.append(Batch(d, yb, lengths, n))
        kl_weight = min(1.0, (step + 1) / kl_warmup_steps) if kl_warmup_steps > 0 else 1.0
        return model.elbo_loss(batches, kl_weight=kl_weight)

    return step


def evaluate_dataset(
    model: MetaDynamicalSSM,
    d: int,
    data: SessionData,
    *,
    embed_trials: np.ndarray,
    eval_trials: np.ndarray,
    forecast: Mapping[str, Any],
    device: torch.device,
) -> dict[str, float]:
    """Reconstruction and forecasting r² of dataset ``d`` on ``eval_trials``, e inferred from ``embed_trials``.

    - recon_r2: posterior-mean latents of each whole evaluation trial → readout mean, against the data
      (Gaussian: the observations; Poisson: counts smoothed with a Gaussian of ``smooth_sd_bins``), pooled r²
      (:func:`r2_pooled`) over trials, bins and channels.
    - forecast_r2: the posterior sees the first ``context_bins`` bins only; the mean dynamics f(·; e) are
      rolled forward ``horizon_bins`` steps from the last context state; pooled r² of the forecast readout
      means against the data over those ``horizon_bins`` bins (k-step forecasting r², k = horizon_bins).
    - mean_rate_r2 (collapse check): the same r² for a prediction of each channel's mean over the embedding
      trials; ``collapsed`` = 1 when recon_r2 < mean_rate_r2 + ``collapse_margin`` — the known failure of
      low-rate Poisson data, where the model predicts the mean rate and ignores the latents.
    """
    model.eval()
    y_embed = torch.as_tensor(data.y[embed_trials], device=device)
    y_eval = torch.as_tensor(data.y[eval_trials], device=device)
    e = None
    if model.embed_dim:
        with torch.no_grad():
            e, _ = model.embedding_posterior(d, y_embed, torch.full((len(embed_trials),), y_embed.shape[1], device=device))
    T = y_eval.shape[1]
    lengths = torch.full((y_eval.shape[0],), T, dtype=torch.long, device=device)
    z = model.smooth(d, y_eval, lengths, e)
    recon = model.predict_mean(d, z).cpu().numpy()
    sd = forecast["smooth_sd_bins"] if model.likelihood == "poisson" else 0
    target = gaussian_smooth(data.y[eval_trials], sd)
    mean_rate = data.y[embed_trials].reshape(-1, data.y.shape[-1]).mean(0)
    out = {"recon_r2": r2_pooled(target, recon), "mean_rate_r2": r2_pooled(target, np.broadcast_to(mean_rate, target.shape))}
    out["collapsed"] = float(out["recon_r2"] < out["mean_rate_r2"] + forecast["collapse_margin"])
    context = min(forecast["context_bins"], T - 1)
    horizon = min(forecast["horizon_bins"], T - context)
    pred = model.forecast(d, y_eval, e, context, horizon).cpu().numpy()
    out["forecast_r2"] = r2_pooled(target[:, context : context + horizon], pred)
    out["forecast_horizon_bins"] = float(horizon)
    return out


@torch.no_grad()
def posterior_latents(model: MetaDynamicalSSM, d: int, data: SessionData, trials: np.ndarray, device: torch.device):
    """Posterior-mean latents (n·T, d_z) of dataset d's trials and its embedding mean (d_e,) or None."""
    y = torch.as_tensor(data.y[trials], device=device)
    lengths = torch.full((len(trials),), y.shape[1], device=device)
    e = model.embedding_posterior(d, y, lengths)[0] if model.embed_dim else None
    return model.smooth(d, y, lengths, e).reshape(-1, model.latent_dim), e


@torch.no_grad()
def learned_rotation(model: MetaDynamicalSSM, z: torch.Tensor, e: torch.Tensor | None, basis: torch.Tensor) -> float:
    """Signed angular speed (rad per bin) of the learned dynamics f(·; e) at latents z (n, d_z).

    Angles are taken around the latents' centroid in ``basis`` (2, d_z): one plane shared by every dataset
    (the leading principal plane of all datasets' latents together), so the sign — the sense of rotation in
    the shared latent space — is comparable across datasets.
    """
    z1 = model.rollout(z, e, 1)[:, 0]
    centre = z.mean(0)
    a, b = (z - centre) @ basis.T, (z1 - centre) @ basis.T
    dtheta = torch.atan2(b[:, 1], b[:, 0]) - torch.atan2(a[:, 1], a[:, 0])
    dtheta = (dtheta + np.pi) % (2 * np.pi) - np.pi
    return float(dtheta.mean())


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    from scipy.stats import spearmanr

    if len(x) < 3:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def train(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn metadyn train", description=TRAIN_DOC.splitlines()[0])
    add_job_arguments(parser, inputs={"sessions": "+"}, params="config slice as JSON (see workflow/rules/metadyn.smk)",
                      out_help="run record folder (sessions: one store per dataset)")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the rule's threads)")
    args = parse_job_args(parser, argv)
    torch.set_num_threads(args.threads)
    params, sessions = args.params, args.inputs["sessions"]
    seed_everything(args.seed)
    device = pick_device(params.get("device", "auto"))
    datas = load_all(sessions, params)
    record = RunRecord(args.out, params, args.seed, device=describe(device), inputs=sessions)
    model = build_model(params["model"], [d.y.shape[-1] for d in datas], params["likelihood"], params["conditioning"]).to(device)
    splits = [choose_trials(d, seed=derive_seed(args.seed, "split", d.name), eval_fraction=params["forecast"]["eval_fraction"]) for d in datas]
    for i, (d, (pool, _)) in enumerate(zip(datas, splits)):
        model.init_dataset(i, torch.as_tensor(d.y[pool], device=device))
    train_cfg = params["train"]
    step_fn = make_step_fn(model, [(i, d.y[s[0]]) for i, (d, s) in enumerate(zip(datas, splits))],
                           batch_trials=train_cfg["batch_trials"], kl_warmup_steps=train_cfg["kl_warmup_steps"], device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_cfg["lr"])
    result = fit(modules={"model": model}, optimizer=optimizer, step_fn=step_fn, n_steps=train_cfg["n_steps"], record=record,
                 seed=derive_seed(args.seed, "train"), label=f"metadyn {params.get('experiment', '')}",
                 checkpoint_every=train_cfg["checkpoint_every"], clip_grad=train_cfg["clip_grad"])
    model.record_shared_space([(i, torch.as_tensor(d.y[s[0]], device=device)) for i, (d, s) in enumerate(zip(datas, splits))])
    metrics: dict[str, Any] = {"train.final_loss_per_bin": result.last("loss"), "train.steps": result.steps, "n_datasets": len(datas)}
    embeddings = {}
    for i, (data, (pool, test)) in enumerate(zip(datas, splits)):
        ev = evaluate_dataset(model, i, data, embed_trials=pool, eval_trials=test, forecast=params["forecast"], device=device)
        metrics.update({f"{data.name}.{k}": v for k, v in ev.items()})
        if model.embed_dim:
            with torch.no_grad():
                y = torch.as_tensor(data.y[pool], device=device)
                mu, lv = model.embedding_posterior(i, y, torch.full((len(pool),), y.shape[1], device=device))
            embeddings[data.name] = {"mean": mu.cpu().tolist(), "logvar": lv.cpu().tolist()}
    names = [d.name for d in datas]
    values = params.get("family_values") or []
    if embeddings and values and all(v is not None for v in values) and len(values) == len(names):
        first = [embeddings[n]["mean"][0] for n in names]
        key = params["family_param"]
        metrics[f"embedding_spearman_{key}"] = spearman(first, values)
        if model.latent_dim >= 2:
            lat = [posterior_latents(model, i, d, s[0], device) for i, (d, s) in enumerate(zip(datas, splits))]
            pooled = torch.cat([z - z.mean(0) for z, _ in lat])
            basis = torch.linalg.svd(pooled, full_matrices=False)[2][:2]
            speeds = [learned_rotation(model, z, e, basis) for z, e in lat]
            for name, sp in zip(names, speeds):
                metrics[f"{name}.learned_rotation_rad_per_bin"] = sp
                embeddings[name]["learned_rotation_rad_per_bin"] = sp
            # the read-ins are oriented alike (MetaDynamicalSSM.init_dataset), so e should order ω itself; the
            # signed variant checks the sense of rotation each dataset settled on in the shared latent space
            metrics[f"embedding_spearman_signed_{key}"] = spearman(first, [np.sign(sp) * v for sp, v in zip(speeds, values)])
            metrics[f"learned_speed_spearman_{key}"] = spearman([abs(sp) for sp in speeds], values)
    metrics["collapsed_datasets"] = sum(int(metrics[f"{n}.collapsed"]) for n in names)
    record.save_torch("model.pt", {"state_dict": model.state_dict(), "n_channels": [d.y.shape[-1] for d in datas], "sessions": names})
    (record.path("embeddings.json")).write_text(json.dumps({"sessions": names, "family_values": values, "embeddings": embeddings}, indent=2))
    record.finish(metrics, sessions=list(sessions))
    return 0


TRANSFER_DOC = """Few-shot transfer of a Meta-Dynamical SSM to held-out recordings, and the single-dataset baseline.

``neurodyn metadyn transfer --targets T.zarr … --params JSON --seed S --out DIR [--pretrained RUN]``

For each target recording and each k in ``fewshot.ks`` (Vermani et al., ICLR 2025, §4.3 "few-shot learning"):
- pretrained variants (``meta`` = hypernetwork, ``input`` = embedding as input, ``shared`` = no embedding):
  a fresh copy of the pretrained model gets a new read-in/readout for the target; only those are fitted on
  k training trials (the ELBO of eq. 8 with the shared dynamics, encoders and embedding encoder frozen), and e
  is inferred by the embedding encoder from the same k trials;
- ``single``: the same architecture without embedding, every parameter trained on the k trials only.
Then reconstruction and forecasting r² on the target's evaluation trials
(:func:`neurodyn.metadyn.jobs.evaluate_dataset`). Metrics: ``<target>.k<k>.{recon_r2, forecast_r2,
mean_rate_r2, collapsed}``; k larger than the target's trial pool is skipped and listed in run.json."""


def transfer(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn metadyn transfer", description=TRANSFER_DOC.splitlines()[0])
    # targets: held-out session stores; pretrained: the run record of `neurodyn metadyn train` (none for variant single)
    add_job_arguments(parser, inputs={"targets": "+", "pretrained": "?"}, params="config slice as JSON", out_help="run record folder")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parse_job_args(parser, argv)
    torch.set_num_threads(args.threads)
    params, pretrained = args.params, args.inputs["pretrained"]
    variant = params["variant"]
    if variant == "single":
        base = params
        checkpoint = None
    else:
        if not pretrained:
            raise InputError("--inputs", "pretrained", f"a pretrained run record for variant {variant!r}")
        base = read_config(pretrained)
        checkpoint = torch.load(f"{pretrained}/model.pt", weights_only=True, map_location="cpu")
    seed_everything(args.seed)
    device = pick_device(params.get("device", "auto"))
    targets = load_all(args.inputs["targets"], base)
    record = RunRecord(args.out, params, args.seed, device=describe(device), inputs=[*args.inputs["targets"], *([pretrained] if pretrained else [])])
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
    record.finish(metrics, variant=variant, pretrained=pretrained, targets=list(args.inputs["targets"]), skipped=skipped)
    return 0
