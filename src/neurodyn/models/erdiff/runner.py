"""The three jobs of an ERDiff experiment, as library functions the CLI modules call (and tests call directly).

1. ``train_source``: the source VAE (+ behaviour readout) on source train+val trials.
2. ``train_prior``: the diffusion prior on posterior samples of the source VAE (full / w/o S / w/o T).
3. ``align``: one alignment method on a target session — the target read-in is fitted on target TRAIN trials
   without behaviour; the checkpoint is selected on target VAL trials (behaviour R² through the frozen source
   readout; sessions without behaviour pass their own ``select_fn``); the selected read-in is scored on target
   TEST trials only (PAPERS.md: the paper's code selects on the very trials it scores; we do not).
"""

from __future__ import annotations

import copy
import io
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from neurodyn.models.erdiff.data import Trials, match_channels
from neurodyn.models.erdiff.diffusion import DiffusionPrior
from neurodyn.models.erdiff.metrics import r2_pct, rmse
from neurodyn.models.erdiff.vae import SequentialVAE
from neurodyn.train.loop import fit

ERDIFF_VARIANTS = {"erdiff": (True, True), "erdiff_wo_s": (False, True), "erdiff_wo_t": (True, False)}
PRIOR_OF = {"erdiff": "full", "erdiff_wo_s": "wo_s", "erdiff_wo_t": "wo_t"}
VARIANT_LAYERS = {"full": (True, True), "wo_s": (False, True), "wo_t": (True, False)}


def _batch(n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    if size >= n:
        return torch.arange(n)
    return torch.randperm(n, generator=gen)[:size]


# -- 1. source VAE ---------------------------------------------------------------------------------------------
def build_vae(hp: Mapping[str, Any]) -> SequentialVAE:
    return SequentialVAE(**hp)


def vae_hparams(params: Mapping[str, Any], trials: Trials, likelihood: str) -> dict[str, Any]:
    return {
        "n_channels": trials.n_channels,
        "n_latent": params["latent_dim"],
        "hidden": params["hidden"],
        "rnn_layers": params["rnn_layers"],
        "rnn": params["rnn"],
        "bidirectional": params["bidirectional"],
        "decoder_hidden": params["decoder_hidden"],
        "n_behaviour": 0 if trials.y is None else trials.y.shape[-1],
        "likelihood": likelihood,
    }


def train_source(trials: Trials, params: Mapping[str, Any], *, seed: int, device, record=None) -> tuple[SequentialVAE, dict]:
    """Fit the source VAE on train+val trials; returns the model and its checkpoint payload (CPU tensors)."""
    fit_trials = trials.subset("train", "val")
    likelihood = "poisson" if trials.kind == "spikes" else "continuous_bernoulli"
    hp = vae_hparams(params, trials, likelihood)
    torch.manual_seed(seed)
    vae = build_vae(hp).to(device)
    x = torch.as_tensor(fit_trials.x, device=device)
    observed = torch.as_tensor(fit_trials.observed, dtype=torch.float32, device=device)
    y_mean = y_std = None
    y = None
    if fit_trials.y is not None:
        y_mean = fit_trials.y.reshape(-1, fit_trials.y.shape[-1]).mean(0)
        y_std = fit_trials.y.reshape(-1, fit_trials.y.shape[-1]).std(0) + 1e-6
        y = torch.as_tensor((fit_trials.y - y_mean) / y_std, device=device)
    opt = torch.optim.Adam(vae.parameters(), lr=params["lr"], weight_decay=params["weight_decay"])

    def step(i: int, gen: torch.Generator):
        idx = _batch(x.shape[0], params["batch_trials"], gen).to(device)
        warm = min(1.0, (i + 1) / max(1, params["kl_warmup_steps"]))  # KL annealing avoids early posterior collapse
        return vae.loss(x[idx], observed=observed[idx], behaviour=None if y is None else y[idx],
                        kl_weight=params["kl_weight"] * warm, behaviour_weight=params["behaviour_weight"], gen=gen)

    result = fit(modules={"vae": vae}, optimizer=opt, step_fn=step, n_steps=params["steps"], record=record,
                 seed=seed, label="erdiff source vae", checkpoint_every=params["checkpoint_every"], clip_grad=5.0)
    payload = {
        "hparams": hp,
        "state_dict": {k: v.detach().cpu() for k, v in vae.state_dict().items()},
        "behaviour_mean": None if y_mean is None else torch.as_tensor(y_mean),
        "behaviour_std": None if y_std is None else torch.as_tensor(y_std),
    }
    metrics = {"train_loss_final": result.last("loss"), "train_nll_final": result.last("nll")}
    vae.eval()
    for part in ("train", "test"):
        sub = trials.subset(*(["train", "val"] if part == "train" else ["test"]))
        if sub.y is not None and len(sub.split):
            pred = decode_behaviour(vae, payload, torch.as_tensor(sub.x, device=device))
            metrics[f"source_{part}_r2_pct"] = r2_pct(sub.y, pred)
            metrics[f"source_{part}_rmse"] = rmse(sub.y, pred)
    return vae, {"payload": payload, "metrics": metrics}


def load_vae(payload: Mapping[str, Any], device) -> SequentialVAE:
    vae = build_vae(payload["hparams"])
    vae.load_state_dict(payload["state_dict"])
    return vae.to(device).eval()


@torch.no_grad()
def decode_behaviour(vae: SequentialVAE, payload: Mapping[str, Any], x: torch.Tensor, read_in: nn.Module | None = None) -> np.ndarray:
    """Posterior-mean latents -> source readout -> behaviour in the source's units, (trial, time, axis)."""
    mean, _ = vae.encode(x, read_in)
    z = vae.decode_behaviour(mean).cpu().numpy()
    return z * payload["behaviour_std"].numpy() + payload["behaviour_mean"].numpy()


@torch.no_grad()
def posterior(vae: SequentialVAE, x: torch.Tensor, read_in: nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    return vae.encode(x, read_in)


# -- 2. diffusion prior --------------------------------------------------------------------------------------
def prior_hparams(params: Mapping[str, Any], n_bins: int, n_latent: int, variant: str) -> dict[str, Any]:
    spatial, temporal = VARIANT_LAYERS[variant]
    return {
        "n_bins": n_bins, "n_latent": n_latent, "steps": params["diffusion_steps"], "schedule": params["schedule"],
        "beta_start": params["beta_start"], "beta_end": params["beta_end"], "noise_scale": params["noise_scale"],
        "width": params["width"], "heads": params["heads"], "ff": params["ff"], "blocks": params["blocks"],
        "spatial": spatial, "temporal": temporal,
    }


def train_prior(vae: SequentialVAE, trials: Trials, params: Mapping[str, Any], *, variant: str, seed: int, device, record=None) -> tuple[DiffusionPrior, dict]:
    """DSM on Z_0 ~ q(Z | X^(s); φ_s) of source train+val trials: a fresh posterior sample every step (§3.2)."""
    fit_trials = trials.subset("train", "val")
    mean, logvar = posterior(vae, torch.as_tensor(fit_trials.x, device=device))
    hp = prior_hparams(params, mean.shape[1], mean.shape[2], variant)
    torch.manual_seed(seed)
    prior = DiffusionPrior(**hp).to(device)
    flat = mean.reshape(-1, mean.shape[-1])
    prior.z_mean.copy_(flat.mean(0))
    prior.z_std.copy_(flat.std(0) + 1e-4)
    opt = torch.optim.Adam(prior.denoiser.parameters(), lr=params["lr"])

    def step(i: int, gen: torch.Generator):
        idx = _batch(mean.shape[0], params["batch_trials"], gen).to(device)
        z0 = SequentialVAE.sample(mean[idx], logvar[idx], gen) if params["posterior_samples"] else mean[idx]
        loss, _, _ = prior.dsm_loss(prior.standardise(z0), gen=gen)
        return {"loss": loss}

    result = fit(modules={"prior": prior}, optimizer=opt, step_fn=step, n_steps=params["steps"], record=record,
                 seed=seed, label=f"erdiff prior {variant}", checkpoint_every=params["checkpoint_every"], clip_grad=1.0)
    payload = {"hparams": hp, "state_dict": {k: v.detach().cpu() for k, v in prior.state_dict().items()}}
    first = np.mean([h["loss"] for h in result.history[:10]]) if result.history else float("nan")
    return prior, {"payload": payload, "metrics": {"dsm_loss_first": float(first), "dsm_loss_final": result.last("loss")}}


def load_prior(payload: Mapping[str, Any], device) -> DiffusionPrior:
    prior = DiffusionPrior(**payload["hparams"])
    prior.load_state_dict(payload["state_dict"])
    return prior.to(device).eval()


# -- 3. alignment --------------------------------------------------------------------------------------------
def module_size(module: nn.Module | None) -> tuple[int, float]:
    """(parameters, serialized float32 state_dict size in KB) of the modules a method adds."""
    if module is None:
        return 0, 0.0
    n = sum(p.numel() for p in module.parameters())
    if n == 0:
        return 0, 0.0
    buf = io.BytesIO()
    torch.save({k: v for k, v in module.state_dict().items()}, buf)
    return n, buf.getbuffer().nbytes / 1024.0


class _Best(nn.Module):
    """The best validation score seen and the read-in that produced it — a module, so resume keeps it."""

    def __init__(self, read_in: nn.Linear):
        super().__init__()
        self.register_buffer("score", torch.tensor(float("-inf")))
        self.register_buffer("step", torch.tensor(-1))
        self.register_buffer("weight", read_in.weight.detach().clone())
        self.register_buffer("bias", read_in.bias.detach().clone())

    def offer(self, score: float, step: int, read_in: nn.Linear) -> None:
        if score > float(self.score):
            self.score.fill_(score)
            self.step.fill_(step)
            self.weight.copy_(read_in.weight.detach())
            self.bias.copy_(read_in.bias.detach())


def init_read_in(vae: SequentialVAE, n_target: int, how: str, seed: int) -> nn.Linear:
    """The target read-in φ_t: the source read-in applied to the target's channels (zero-padded / truncated —
    units do not correspond across sessions; this is the "no alignment" floor), or a fresh random layer."""
    src = vae.read_in
    layer = nn.Linear(n_target, src.out_features)
    if how == "source":
        with torch.no_grad():
            w = src.weight.detach().cpu().numpy()  # (hidden, n_source)
            layer.weight.copy_(torch.as_tensor(match_channels(w[None], n_target)[0]))
            layer.bias.copy_(src.bias.detach().cpu())
    elif how == "random":
        torch.manual_seed(seed)
        layer.reset_parameters()
    else:
        raise ValueError(f"read-in init must be 'source' or 'random', got {how!r}")
    return layer.to(src.weight.device)


def align(
    *,
    method: str,
    vae: SequentialVAE,
    vae_payload: Mapping[str, Any],
    source: Trials,
    target: Trials,
    params: Mapping[str, Any],
    method_params: Mapping[str, Any],
    prior: DiffusionPrior | None,
    seed: int,
    device,
    record=None,
    select_fn=None,
) -> dict[str, Any]:
    """Fit φ_t with ``method`` on target train trials; select on val; score test. Returns metrics and artefacts.

    ``select_fn(latents_val (trial, time, d) np, trials_val) -> score`` (higher is better) overrides the default
    selection score, val behaviour R² — used for the synthetic sessions, which have no behaviour.
    """
    from neurodyn.models.erdiff import baselines
    from neurodyn.models.erdiff.mla import MaximumLikelihoodAlignment

    for p in vae.parameters():
        p.requires_grad_(False)
    tr, va, te = target.subset("train"), target.subset("val"), target.subset("test")
    if not len(tr.split) or not len(va.split) or not len(te.split):
        raise ValueError("target session needs train, val and test trials")
    read_in = init_read_in(vae, target.n_channels, params["read_in_init"], seed)
    x_tr = torch.as_tensor(tr.x, device=device)
    x_va = torch.as_tensor(va.x, device=device)
    src_mean, src_logvar = posterior(vae, torch.as_tensor(source.subset("train", "val").x, device=device))
    n_bins, n_latent = src_mean.shape[1], src_mean.shape[2]

    objective: nn.Module | None
    added: nn.Module | None
    if method == "no_align":
        objective = added = None
    elif method in ERDIFF_VARIANTS:
        if prior is None:
            raise ValueError(f"{method} needs a trained diffusion prior")
        objective = MaximumLikelihoodAlignment(prior=prior, **method_params).to(device)
        added = prior.denoiser
    else:
        objective = baselines.build(method, n_bins=n_bins, n_latent=n_latent, n_target_channels=target.n_channels, **method_params).to(device)
        added = objective
    params_added, size_kb = module_size(added)

    def val_score() -> float:
        with torch.no_grad():
            if select_fn is not None:
                mean, _ = vae.encode(x_va, read_in)
                return float(select_fn(mean.cpu().numpy(), va))
            pred = decode_behaviour(vae, vae_payload, x_va, read_in)
            return r2_pct(va.y, pred)

    best = _Best(read_in).to(device)
    steps = 0 if method == "no_align" else params["steps"]
    step_times: list[float] = []
    history = None
    if steps:
        opt = torch.optim.Adam([
            {"params": list(read_in.parameters()), "lr": params["lr"]},
            {"params": [p for p in objective.parameters() if p.requires_grad], "lr": params["aux_lr"]},
        ])

        def encode(x):
            return vae.encode(x, read_in)

        def step(i: int, gen: torch.Generator):
            if i and i % params["eval_every"] == 0:
                best.offer(val_score(), i, read_in)
            t0 = time.perf_counter()
            idx = _batch(x_tr.shape[0], params["batch_trials"], gen).to(device)
            mean, logvar = vae.encode(x_tr[idx], read_in)
            z_t = SequentialVAE.sample(mean, logvar, gen)
            sidx = _batch(src_mean.shape[0], params["batch_trials"], gen).to(device)
            z_s = SequentialVAE.sample(src_mean[sidx], src_logvar[sidx], gen)
            if method in ERDIFF_VARIANTS:
                out = objective(z_t, gen=gen, z_source=z_s)
            else:
                out = objective(z_t=z_t, z_s=z_s, x_t=x_tr[idx], encode=encode, gen=gen)
            out = dict(out)
            out["_t0"] = t0
            return out

        # time per step = forward + backward + update; measured around fit's step via a hook on the optimiser
        last = {}
        orig_step = opt.step

        def timed_step(*a, **k):
            r = orig_step(*a, **k)
            if "t0" in last:
                step_times.append(time.perf_counter() - last.pop("t0"))
            return r

        opt.step = timed_step

        def step_wrapper(i, gen):
            out = step(i, gen)
            last["t0"] = out.pop("_t0")
            return out

        res = fit(modules={"read_in": read_in, "objective": objective, "best": best}, optimizer=opt, step_fn=step_wrapper,
                  n_steps=steps, record=record, seed=seed, label=f"erdiff align {method}",
                  checkpoint_every=params["checkpoint_every"], clip_grad=params["clip_grad"])
        history = res.history
    best.offer(val_score(), steps, read_in)
    if method == "no_align" or params["select"] == "last":
        chosen_step = steps
    else:
        chosen_step = int(best.step)
        with torch.no_grad():
            read_in.weight.copy_(best.weight)
            read_in.bias.copy_(best.bias)
    read_in.eval()
    with torch.no_grad():
        lat_te, _ = vae.encode(torch.as_tensor(te.x, device=device), read_in)
        lat_va, _ = vae.encode(x_va, read_in)
    metrics: dict[str, Any] = {
        "selected_step": chosen_step,
        "steps": steps,
        "val_score_selected": float(best.score) if method != "no_align" and params["select"] != "last" else val_score(),
        "params_added": params_added,
        "size_added_kb": round(size_kb, 3),
        "align_step_time_ms": float(1000 * np.median(step_times)) if step_times else 0.0,
        "align_total_time_s": float(sum(step_times)),
        "n_train_trials": int(len(tr.split)), "n_val_trials": int(len(va.split)), "n_test_trials": int(len(te.split)),
    }
    if te.y is not None and vae.readout is not None:
        pred = decode_behaviour(vae, vae_payload, torch.as_tensor(te.x, device=device), read_in)
        metrics["test_r2_pct"] = r2_pct(te.y, pred)
        metrics["test_rmse"] = rmse(te.y, pred)
        metrics["val_r2_pct"] = r2_pct(va.y, decode_behaviour(vae, vae_payload, x_va, read_in))
    if history:
        metrics["loss_first"] = float(np.mean([h["loss"] for h in history[:5]]))
        metrics["loss_final"] = float(np.mean([h["loss"] for h in history[-5:]]))
    return {
        "metrics": metrics,
        "read_in": {k: v.detach().cpu() for k, v in read_in.state_dict().items()},
        "test_latents": lat_te.cpu(),
        "val_latents": lat_va.cpu(),
        "test_condition": [str(c) for c in te.condition],
        "test_split_index": torch.as_tensor(np.flatnonzero(target.mask("test"))),
    }


def copy_module(module: nn.Module) -> nn.Module:
    return copy.deepcopy(module)


def read_checkpoint(path) -> dict:
    """Load a run record's checkpoint on CPU; a missing or unreadable file is an input error."""
    from pathlib import Path

    from neurodyn.errors import InputError

    path = Path(path)
    if not path.exists():
        raise InputError(path, "", "a checkpoint of a finished run record (no such file)")
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # torch raises many types for a corrupt file
        raise InputError(path, "", f"a torch checkpoint ({type(err).__name__})") from err
