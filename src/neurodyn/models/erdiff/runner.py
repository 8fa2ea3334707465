"""The three jobs of an ERDiff experiment, as library functions the CLI modules call (and tests call directly).

1. ``train_source``: the source VAE (+ behaviour readout) on source train+val trials.
2. ``train_prior``: the diffusion prior on posterior samples of the source VAE (full / w/o S / w/o T).
3. ``align``: one alignment method on a target session — the target read-in is fitted on target TRAIN trials
   without behaviour; the checkpoint is selected on target VAL trials (behaviour R² through the frozen source
   readout; sessions without behaviour pass their own ``select_fn``); the selected read-in is scored on target
   TEST trials only (docs/papers.md §2: the paper's code selects on the very trials it scores; we do not).
"""

from __future__ import annotations

import contextlib
import copy
import io
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from neurodyn import rehearsal
from neurodyn.models.erdiff.data import Trials, match_channels
from neurodyn.models.erdiff.diffusion import DiffusionPrior
from neurodyn.models.erdiff.metrics import r2_pct, rmse
from neurodyn.models.erdiff.vae import SequentialVAE
from neurodyn.loop import fit

ERDIFF_VARIANTS = {"erdiff": (True, True), "erdiff_wo_s": (False, True), "erdiff_wo_t": (True, False),
                   "erdiff_dsm_only": (True, True), "erdiff_moment_only": (True, True), "erdiff_no_prior": (True, True),
                   "erdiff_one_stage": (True, True)}
# the prior each ERDiff variant aligns under (the moment-only ablation uses only the full prior's standardisation)
PRIOR_OF = {"erdiff": "full", "erdiff_wo_s": "wo_s", "erdiff_wo_t": "wo_t", "erdiff_dsm_only": "full", "erdiff_moment_only": "full", "erdiff_no_prior": "full",
            "erdiff_one_stage": "full"}


def align_methods() -> list[str]:
    """Every Table 1 method an alignment can run: the two supervised references, the floor, the six baselines
    and ERDiff with its ablations."""
    from neurodyn.models.erdiff import baselines

    return ["oracle", "oracle_matched", "no_align", *baselines.NAMES, *ERDIFF_VARIANTS]


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
    metrics = {"dsm_loss_first": float(first), "dsm_loss_final": result.last("loss")}
    held = trials.subset("test")
    if len(held.split):
        held_mean, _ = posterior(vae, torch.as_tensor(held.x, device=device))
        metrics.update(prior_checks(prior.eval(), held_mean, mean, seed=seed))
    return prior, {"payload": payload, "metrics": metrics}


ROTATION_CHECK_DEG = (15.0, 45.0, 90.0)


@torch.no_grad()
def dsm_per_trial(prior: DiffusionPrior, z: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, denoise=None) -> torch.Tensor:
    """Denoising loss ‖ε − ε̂(Z_t, t)‖² per trial, averaged over fixed draws: z (B, l, d) raw latents,
    t (K, B), eps (K, B, l, d) -> (B,). ``denoise(zt, t)`` replaces the prior's denoiser (a reference)."""
    z0 = prior.standardise(z)
    fn = denoise or prior.denoiser
    return torch.stack([(eps[k] - fn(prior.schedule.noisy(z0, t[k], eps[k]), t[k])).pow(2).sum(dim=(1, 2)) for k in range(t.shape[0])]).mean(0)


def gaussian_denoiser(prior: DiffusionPrior, z_fit: torch.Tensor, ridge: float = 1e-2):
    """The exact ε-predictor E[ε | Z_t] when standardised trials are Gaussian, N(μ, Σ) over all l·d entries
    fitted to z_fit (n, l, d): ε̂ = √(1−ᾱ_t) Σ_t⁻¹ (Z_t − √ᾱ_t μ), Σ_t = ᾱ_t Σ + (1−ᾱ_t) I — the reference a
    prior must beat to model more than second moments."""
    flat = prior.standardise(z_fit).flatten(1).double()
    mu = flat.mean(0)
    cov = torch.cov(flat.T) + ridge * torch.eye(flat.shape[1], dtype=flat.dtype, device=flat.device)
    lam, u = torch.linalg.eigh(cov)

    def denoise(zt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        abar = prior.schedule.alpha_bar[t].double()[:, None]  # (B, 1)
        proj = (zt.flatten(1).double() - abar.sqrt() * mu) @ u  # (B, D) in the eigenbasis
        eps = ((1 - abar).sqrt() * proj / (abar * lam + (1 - abar))) @ u.T
        return eps.view(zt.shape).to(zt.dtype)

    return denoise


def rotate_latents(z: torch.Tensor, degrees: float, gen: torch.Generator, centre: torch.Tensor) -> torch.Tensor:
    """z (B, l, d) rotated about ``centre`` (d,) by ``degrees`` in a random plane of the latent space."""
    d = z.shape[-1]
    q, _ = torch.linalg.qr(torch.randn(d, 2, generator=gen, dtype=torch.float64))
    c, s_ = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    plane = torch.tensor([[c - 1, -s_], [s_, c - 1]], dtype=torch.float64)
    rot = (torch.eye(d, dtype=torch.float64) + q @ plane @ q.T).to(z.dtype).to(z.device)  # identity off the plane
    return (z - centre) @ rot.T + centre


def prior_checks(prior: DiffusionPrior, held: torch.Tensor, fit_latents: torch.Tensor, *, seed: int, draws: int = 8, planes: int = 4) -> dict[str, float]:
    """Is the prior good enough to align with? On held-out source latents held (B, l, d), with fixed draws:
    ``dsm_heldout`` (its denoising loss per trial), ``dsm_gaussian_ref`` (the exact Gaussian reference fitted to
    fit_latents), and ``rotation_margin_<θ>`` — the loss of the same trials rotated by θ in a random latent
    plane (mean over ``planes`` planes) minus the unrotated loss: > 0 means it prefers the right orientation."""
    gen = torch.Generator().manual_seed(seed + 17)
    b = held.shape[0]
    t = torch.randint(0, prior.schedule.steps, (draws, b), generator=gen).to(held.device)
    eps = torch.randn((draws, *held.shape), generator=gen).to(held.device)
    base = dsm_per_trial(prior, held, t, eps).mean().item()
    out = {"dsm_heldout": base, "dsm_gaussian_ref": dsm_per_trial(prior, held, t, eps, gaussian_denoiser(prior, fit_latents)).mean().item()}
    centre = fit_latents.reshape(-1, fit_latents.shape[-1]).mean(0)
    for deg in ROTATION_CHECK_DEG:
        rot = [dsm_per_trial(prior, rotate_latents(held, deg, gen, centre), t, eps).mean().item() for _ in range(planes)]
        out[f"rotation_margin_{deg:g}"] = float(np.mean(rot) - base)
    return out


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


class StackedReadIn(nn.Module):
    """R target read-ins φ_t^(1..R) (the restarts) applied at once: x (R·B, T, N) group-major -> (R·B, T, H).

    Stacking lets one pass of the frozen encoder and prior serve every restart (a batch R times larger costs
    far less than R passes on CPU for models this small); the groups never mix, so each restart's gradient is
    the one it would get alone.
    """

    def __init__(self, layers: list[nn.Linear]):
        super().__init__()
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]))  # (R, H, N)
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]))  # (R, H)

    @property
    def groups(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = x.reshape(self.groups, -1, *x.shape[1:])  # (R, B, T, N)
        return (torch.einsum("rbtn,rhn->rbth", g, self.weight) + self.bias[:, None, None]).reshape(-1, x.shape[1], self.weight.shape[1])

    def group(self, r: int):
        """The r-th read-in alone, as a callable x (B, T, N) -> (B, T, H) that keeps gradients."""
        return lambda x: nn.functional.linear(x, self.weight[r], self.bias[r])

    def linear(self, r: int) -> nn.Linear:
        layer = nn.Linear(self.weight.shape[2], self.weight.shape[1]).to(self.weight.device)
        with torch.no_grad():
            layer.weight.copy_(self.weight[r])
            layer.bias.copy_(self.bias[r])
        return layer


class _Best(nn.Module):
    """Per restart: the best validation score seen and the read-in that produced it — a module, so resume keeps it."""

    def __init__(self, read_in: StackedReadIn):
        super().__init__()
        r = read_in.groups
        self.register_buffer("score", torch.full((r,), float("-inf")))
        self.register_buffer("step", torch.full((r,), -1))
        self.register_buffer("weight", read_in.weight.detach().clone())
        self.register_buffer("bias", read_in.bias.detach().clone())
        # screening (align.screen_steps): the restart kept after it (-1: not screened yet) and every restart's
        # label-free criterion and val score at that step, for the selection report
        self.register_buffer("kept", torch.tensor(-1))
        self.register_buffer("screen_criteria", torch.full((r,), float("nan")))
        self.register_buffer("screen_val", torch.full((r,), float("nan")))
        self.register_buffer("screen_weight", read_in.weight.detach().clone())
        self.register_buffer("screen_bias", read_in.bias.detach().clone())

    def offer(self, scores: list[float], step: int, read_in: StackedReadIn) -> None:
        for r, score in enumerate(scores):
            if score > float(self.score[r]):
                self.score[r] = score
                self.step[r] = step
                self.weight[r].copy_(read_in.weight[r].detach())
                self.bias[r].copy_(read_in.bias[r].detach())


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


def average_over_draws(mean: torch.Tensor, logvar: torch.Tensor, src_mean: torch.Tensor, src_logvar: torch.Tensor, *, groups: int,
                       draws: int, gen: torch.Generator, score, diffusion=None) -> list[float]:
    """A label-free objective of ``groups`` read-ins, averaged over ``draws`` Monte-Carlo draws.

    mean, logvar (G·n, l, d): each read-in's posterior on the same n target trials, group-major; src_mean,
    src_logvar (n_s, l, d): the source posterior. A draw is a posterior sample of the target (one noise tensor
    shared by the groups: common random numbers, so the groups' objectives compare) and of the source latents
    and, when ``diffusion()`` is given, its diffusion times and noise (t (1, G·n), eps (1, G·n, l, d)).
    ``score(z_t, z_s, t, eps) -> (G,)``; returns the G averages. Why shared draws: one draw's objective spreads
    by ~3 (ERDiff's denoising term, config.yaml's pair), the difference between two restarts under the same draw
    by ~0.4-0.7, so common draws separate restarts whose gaps are small (64 draws put the closest measured one,
    0.33 on seed 3, 4.6 standard errors apart)."""
    n = mean.shape[0] // groups
    total = torch.zeros(groups, dtype=torch.float64)
    for _ in range(draws):
        e = torch.randn(mean[:n].shape, generator=gen).to(mean.device)
        z_t = mean + torch.exp(0.5 * logvar) * e.repeat(groups, 1, 1)
        z_s = SequentialVAE.sample(src_mean, src_logvar, gen)
        t, eps = diffusion() if diffusion is not None else (None, None)
        total += torch.as_tensor(score(z_t, z_s, t, eps), dtype=torch.float64).cpu()
    return [float(v) for v in total / draws]


def restart_seed(seed: int, r: int) -> int:
    """Seed of restart r's random read-in (and of its baseline modules): distinct per restart, fixed by the job seed."""
    return int(seed) * 1009 + 7919 * (r + 1)


SELECTS = ("best", "last", "objective")
# ablations of ERDiff: the objective's weights they override (and the prior whose standardisation they use)
ERDIFF_OVERRIDES = {
    "erdiff": {}, "erdiff_wo_s": {}, "erdiff_wo_t": {},
    "erdiff_dsm_only": {"moment_weight": 0.0, "ot_weight": 0.0},
    "erdiff_moment_only": {"dsm_weight": 0.0, "ot_weight": 0.0},
    "erdiff_no_prior": {"dsm_weight": 0.0},  # what the diffusion prior adds: ERDiff's objective without it
    "erdiff_one_stage": {"refine_steps": 0},  # every term from the first step, restarts compared by the full objective
}


ORACLES = ("oracle", "oracle_matched")


class _Oracle(nn.Module):
    """The supervised ceiling: target behaviour (standardised like the source's) regressed through the frozen
    source readout — the read-in a perfect alignment would have to find inside this architecture.

    ``moment_weight`` > 0 ("oracle_matched"): plus the per-bin KL(N_source ‖ N_target) of the latents. The plain
    oracle is free in the directions the readout ignores, so its latents decode well but need not be distributed
    like the source's — no label-free objective can prefer it. The matched oracle is a read-in that decodes well
    *and* looks like the source: the solution an alignment objective should rate best (see
    ``criterion_at_reference``). The KL is invariant to an affine map applied to both sides, so it needs no
    standardisation."""

    def __init__(self, vae: SequentialVAE, moment_weight: float = 0.0, moment_ridge: float = 1e-3):
        super().__init__()
        self._readout = [vae]  # not a submodule: the VAE is frozen and not part of what this method adds
        self.moment_weight, self.moment_ridge = moment_weight, moment_ridge

    def forward(self, *, z_t: torch.Tensor, y_t: torch.Tensor, z_s: torch.Tensor | None = None, **_) -> dict[str, torch.Tensor]:
        mse = (self._readout[0].decode_behaviour(z_t) - y_t).pow(2).mean()
        out = {"loss": mse, "behaviour_mse": mse, "criterion": mse}
        if self.moment_weight:
            from neurodyn.models.erdiff.mla import binwise_gaussian_kl

            kl = binwise_gaussian_kl(z_s, z_t, ridge=self.moment_ridge)
            out.update(loss=mse + self.moment_weight * kl, moment=kl, criterion=mse + self.moment_weight * kl)
        return out


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
    reference_read_in: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, Any]:
    """Fit φ_t with ``method`` on target train trials, ``params["restarts"]`` times; pick one; score test.

    Restarts: restart 0 starts from ``read_in_init``, the others from random read-ins (``restart_seed``); all
    are trained together (``StackedReadIn``), each with its own copy of a baseline's added modules.
    Selection (``params["select"]``): ``objective`` — each restart's final read-in, the winner the restart
    with the lowest label-free objective (the method's own loss on the read-in's side, ``criterion``) on
    target train + val trials, fixed noise draws: no target behaviour is used before the test trials;
    ``best`` — the checkpoint and restart with the best val behaviour R² (uses target labels); ``last`` —
    restart 0's final read-in. The oracle always selects on val R² (it is supervised anyway).
    Screening (``params["screen_steps"]`` > 0, with ``objective``): every restart trains for ``screen_steps``
    steps, the one with the lowest label-free objective is kept and trains alone for the remaining steps —
    the same choice rule, made early, so a restart costs ``screen_steps`` steps instead of all of them
    (successive halving with one round; Jamieson & Talwalkar, AISTATS 2016).
    ERDiff's two stages (``method_params["refine_steps"]`` > 0, variants with a moment or OT term and the prior):
    the ``params["steps"]`` steps train on the prior-free terms alone — exactly the w/o-prior ablation — the
    restarts are compared by those terms there, and the kept one trains ``refine_steps`` more under the full
    objective: the prior refines a basin the distribution terms chose (on the bundled pair the full objective
    preferred a mirrored fan of reach directions on one seed in five; the prior-free terms ranked every seed right).
    ``select_fn(latents_val (trial, time, d) np, trials_val) -> score`` (higher is better) replaces val R² —
    used for the synthetic sessions, which have no behaviour.
    ``reference_read_in`` (a read-in's state dict, e.g. the matched oracle's): the label-free objective is also scored
    there, with the same draws as at the chosen read-in (``criterion_chosen`` vs ``criterion_at_reference``) —
    lower at the reference means the objective prefers the right alignment and optimisation missed it; higher
    means the objective itself prefers a wrong one. Methods whose objective is a fixed function of the read-in
    only (ERDiff's variants with their frozen prior, JSDM); adversarial baselines' criteria depend on what they
    trained.
    """
    from neurodyn.models.erdiff import baselines
    from neurodyn.models.erdiff.mla import MaximumLikelihoodAlignment

    for p in vae.parameters():
        p.requires_grad_(False)
    tr, va, te = target.subset("train"), target.subset("val"), target.subset("test")
    trva = target.subset("train", "val")
    if not len(tr.split) or not len(va.split) or not len(te.split):
        raise ValueError("target session needs train, val and test trials")
    restarts = 1 if method == "no_align" else int(params["restarts"])
    select = "best" if method in ORACLES else params["select"]
    layers = [init_read_in(vae, target.n_channels, params["read_in_init"] if r == 0 else "random", restart_seed(seed, r)) for r in range(restarts)]
    read_in = StackedReadIn(layers).to(device)
    x_tr = torch.as_tensor(tr.x, device=device)
    x_va = torch.as_tensor(va.x, device=device)
    x_trva = torch.as_tensor(trva.x, device=device)
    src_mean, src_logvar = posterior(vae, torch.as_tensor(source.subset("train", "val").x, device=device))
    n_bins, n_latent = src_mean.shape[1], src_mean.shape[2]
    y_tr = None
    if method in ORACLES:
        if tr.y is None:
            raise ValueError("the oracle needs target behaviour")
        y_tr = torch.as_tensor((tr.y - vae_payload["behaviour_mean"].numpy()) / vae_payload["behaviour_std"].numpy(), device=device, dtype=torch.float32)

    objective: nn.Module | None
    added: nn.Module | None
    refine = 0  # steps under the full objective after the prior-free ones (ERDiff's variants with refine_steps)
    if method == "no_align":
        objective = added = None
    elif method in ERDIFF_VARIANTS:
        if prior is None:
            raise ValueError(f"{method} needs a trained diffusion prior")
        block = {**method_params, **ERDIFF_OVERRIDES[method]}
        refine = int(block.pop("refine_steps", 0))
        objective = MaximumLikelihoodAlignment(prior=prior, **block, prior_warmup_steps=int(params["steps"]) if refine else 0).to(device)
        refine = refine if objective.prior_warmup_steps else 0  # the DSM-only and w/o-prior variants: one stage
        added = None if objective.dsm_weight == 0 else prior.denoiser
    elif method in ORACLES:
        objective = _Oracle(vae, moment_weight=float(method_params.get("moment_weight", 0.0)) if method == "oracle_matched" else 0.0)
        added = None
    else:
        mods = []
        for r in range(restarts):
            torch.manual_seed(restart_seed(seed, r))
            mods.append(baselines.build(method, n_bins=n_bins, n_latent=n_latent, n_target_channels=target.n_channels, **method_params))
        objective = nn.ModuleList(mods).to(device)
        added = mods[0]
    params_added, size_kb = module_size(added)
    steps = 0 if method == "no_align" else int(params["steps"]) + refine
    screen_at = int(params.get("screen_steps", 0)) if select == "objective" and restarts > 1 else 0
    if refine and not screen_at and select == "objective" and restarts > 1:
        # ERDiff's two stages: the restarts compared where the prior-free stage ends, the kept one refined under the prior
        screen_at = objective.prior_warmup_steps
    run_steps = rehearsal.cap_steps(steps)
    if run_steps < steps:  # a rehearsal's few steps still go through both stages: the second is its last step
        last = max(run_steps - 1, 1)
        screen_at = min(screen_at, last)
        if refine:
            objective.prior_warmup_steps = last

    def active() -> list[int]:
        """The restarts still training: all of them, or after screening the one kept."""
        kept = int(best.kept)
        return list(range(restarts)) if kept < 0 else [kept]

    def encode_all(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, N) -> each restart's posterior, (R·B, T, d) group-major."""
        return vae.encode(x.repeat(restarts, 1, 1), read_in)

    def encode_active(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, N) -> the active restarts' posteriors, (A·B, T, d) group-major."""
        groups = active()
        if len(groups) == restarts:
            return encode_all(x)
        return vae.encode(x, read_in.group(groups[0]))

    def val_scores() -> list[float]:
        with torch.no_grad():
            mean, _ = encode_all(x_va)
            mean = mean.view(restarts, -1, *mean.shape[1:])
            if select_fn is not None:
                return [float(select_fn(m.cpu().numpy(), va)) for m in mean]
            out = []
            for m in mean:
                pred = vae.decode_behaviour(m).cpu().numpy() * vae_payload["behaviour_std"].numpy() + vae_payload["behaviour_mean"].numpy()
                out.append(r2_pct(va.y, pred))
            return out

    def run_objective(z_t, z_s, x_t, gen, *, y_t=None, t=None, eps=None, groups=None) -> dict[str, torch.Tensor]:
        """The method's terms on the latents z_t (G·B, l, d) of restarts ``groups`` (default: all R), group-major;
        ``per_group`` (G,) its criterion."""
        groups = list(range(restarts)) if groups is None else groups
        if method in ERDIFF_VARIANTS:
            return objective(z_t, gen=gen, z_source=z_s, groups=len(groups), t=t, eps=eps)
        if method in ORACLES:
            outs = [objective(z_t=z, y_t=y_t, z_s=z_s) for z in z_t.view(len(groups), -1, *z_t.shape[1:])]
        else:
            xs = x_t.view(len(groups), -1, *x_t.shape[1:])
            outs = [objective[r](z_t=z, z_s=z_s, x_t=xs[i], encode=lambda x, r=r: vae.encode(x, read_in.group(r)), gen=gen)
                    for i, (r, z) in enumerate(zip(groups, z_t.view(len(groups), -1, *z_t.shape[1:])))]
        total = {k: sum(o[k] for o in outs) for k in outs[0]}
        total["per_group"] = torch.stack([o["criterion"].detach() for o in outs])
        return total

    def hutchinson_grad():
        """Gradients on for ERDiff's Hutchinson term (it differentiates through its input); off for the baselines,
        whose graphs over every train+val trial would only hold memory (6.5 GB at 120 trials in the rehearsal)."""
        return torch.enable_grad() if method in ERDIFF_VARIANTS else contextlib.nullcontext()

    def diffusion_draws(gen: torch.Generator, n: int, groups: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One diffusion time (1, G·n) and noise (1, G·n, l, d) per trial, the same for each of ``groups`` read-ins."""
        t = torch.randint(0, prior.schedule.steps, (1, n), generator=gen).repeat(1, groups).to(device)
        eps = torch.randn((1, n, n_bins, n_latent), generator=gen).repeat(1, groups, 1, 1).to(device)
        return t, eps

    def averaged(mean: torch.Tensor, logvar: torch.Tensor, groups: int, gen: torch.Generator, score) -> list[float]:
        diffusion = (lambda: diffusion_draws(gen, x_trva.shape[0], groups)) if method in ERDIFF_VARIANTS else None
        with hutchinson_grad():
            # a rehearsal caps these draws like every optimisation loop: they are work per step, not a shape
            return average_over_draws(mean, logvar, src_mean, src_logvar, groups=groups, draws=rehearsal.cap_steps(int(params["criterion_draws"])),
                                      gen=gen, score=score, diffusion=diffusion)

    @torch.no_grad()
    def compare_criteria(layers: list[nn.Linear]) -> list[float]:
        """The label-free objective of each read-in in ``layers`` on target train+val trials, common draws."""
        gen = torch.Generator().manual_seed(seed + 2)
        stack = StackedReadIn(layers).to(device)
        g = len(layers)
        mean, logvar = vae.encode(x_trva.repeat(g, 1, 1), stack)

        def score(z_t, z_s, t, eps):
            if method in ERDIFF_VARIANTS:
                return objective(z_t, gen=gen, z_source=z_s, groups=g, t=t, eps=eps)["per_group"]
            return [float(objective[0](z_t=z, z_s=z_s, x_t=x_trva, encode=lambda x, i=i: vae.encode(x, stack.group(i)), gen=gen)["criterion"])
                    for i, z in enumerate(z_t.view(g, -1, *z_t.shape[1:]))]

        return averaged(mean, logvar, g, gen, score)

    @torch.no_grad()
    def criteria() -> list[float]:
        """Each restart's label-free objective on target train+val trials (common draws: comparable across restarts)."""
        gen = torch.Generator().manual_seed(seed + 1)
        mean, logvar = encode_all(x_trva)
        x_rep = x_trva.repeat(restarts, 1, 1)
        return averaged(mean, logvar, restarts, gen, lambda z_t, z_s, t, eps: run_objective(z_t, z_s, x_rep, gen, t=t, eps=eps)["per_group"])

    best = _Best(read_in).to(device)
    step_times: list[float] = []
    history = None
    if steps:
        opt = torch.optim.Adam([
            {"params": list(read_in.parameters()), "lr": params["lr"]},
            {"params": [p for p in objective.parameters() if p.requires_grad], "lr": params["aux_lr"]},
        ])

        def step(i: int, gen: torch.Generator):
            if select == "best" and i and i % params["eval_every"] == 0:
                best.offer(val_scores(), i, read_in)
            if screen_at and i == screen_at and int(best.kept) < 0:
                if method in ERDIFF_VARIANTS:  # screened by the objective the restarts were trained with so far
                    objective.at_step(i - 1)
                screen = criteria()  # own fixed generator: the training stream `gen` is not consumed
                best.screen_criteria.copy_(torch.as_tensor(screen))
                best.screen_val.copy_(torch.as_tensor(val_scores()))
                best.kept.fill_(int(np.nanargmin(screen)))
                best.screen_weight.copy_(read_in.weight.detach())  # the others as screened (Adam's momentum would move them)
                best.screen_bias.copy_(read_in.bias.detach())
            if method in ERDIFF_VARIANTS:
                objective.at_step(i)
            t0 = time.perf_counter()
            groups = active()
            idx = _batch(x_tr.shape[0], params["batch_trials"], gen).to(device)
            mean, logvar = encode_active(x_tr[idx])
            z_t = SequentialVAE.sample(mean, logvar, gen)
            sidx = _batch(src_mean.shape[0], params["batch_trials"], gen).to(device)
            z_s = SequentialVAE.sample(src_mean[sidx], src_logvar[sidx], gen)
            out = dict(run_objective(z_t, z_s, x_tr[idx].repeat(len(groups), 1, 1), gen, y_t=None if y_tr is None else y_tr[idx], groups=groups))
            out.pop("per_group", None)
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
        if method in ERDIFF_VARIANTS:
            objective.at_step(steps)  # the final criteria and the reference's: the full objective
    final_val = val_scores()
    best.offer(final_val, steps, read_in)
    # the oracle's own objective needs labels: it is selected on val R² and has no label-free criterion
    screened = int(best.kept) >= 0
    if screened:  # the choice was made at the screening step, on the restarts as they were then
        crit = [float(v) for v in best.screen_criteria]
    else:
        crit = criteria() if steps and method not in ORACLES and (restarts > 1 or select == "objective") else [float("nan")] * restarts
    if method == "no_align":
        chosen, chosen_step = 0, 0
    elif select == "best":
        chosen = int(torch.argmax(best.score))
        chosen_step = int(best.step[chosen])
        with torch.no_grad():
            read_in.weight.copy_(best.weight)
            read_in.bias.copy_(best.bias)
    elif screened:
        chosen, chosen_step = int(best.kept), steps
    elif select == "objective":
        chosen, chosen_step = int(np.nanargmin(crit)), steps
    else:
        chosen, chosen_step = 0, steps
    if screened:  # the others stopped at the screening step: their read-ins as they were there
        with torch.no_grad():
            others = torch.arange(restarts, device=read_in.weight.device) != chosen
            read_in.weight[others] = best.screen_weight[others]
            read_in.bias[others] = best.screen_bias[others]
    val_r2 = val_scores()  # of the read-ins the selection kept, per restart (diagnostics; not used by `objective`)
    # the val-R² choice that the label-free choice is compared with, at the step it was made
    agree_val = [float(v) for v in best.screen_val] if screened else val_r2
    final = read_in.linear(chosen).eval()
    reference_scores = None
    if reference_read_in is not None and steps and (method in ERDIFF_VARIANTS or method == "jsdm"):
        reference = nn.Linear(final.in_features, final.out_features).to(device)
        reference.load_state_dict({k: v.to(device) for k, v in reference_read_in.items()})
        reference_scores = compare_criteria([final, reference])
    with torch.no_grad():
        lat_te, _ = vae.encode(torch.as_tensor(te.x, device=device), final)
        lat_va, _ = vae.encode(x_va, final)
        src_te, _ = vae.encode(torch.as_tensor(source.subset("test").x, device=device)) if len(source.subset("test").split) else (src_mean, None)
    metrics: dict[str, Any] = {
        "selected_step": chosen_step,
        "selected_restart": chosen,
        "restarts": restarts,
        "select": select,
        "steps": steps,
        "val_score_selected": float(val_r2[chosen]),
        "restart_val_scores": [round(float(v), 3) for v in val_r2],
        "restart_criteria": [round(float(v), 4) for v in crit],
        "criterion_agrees_with_val": bool(restarts > 1 and np.all(np.isfinite(crit)) and int(np.nanargmin(crit)) == int(np.argmax(agree_val))),
        "screen_steps": screen_at if screened else 0,
        **({} if reference_scores is None else {"criterion_chosen": round(reference_scores[0], 4), "criterion_at_reference": round(reference_scores[1], 4)}),
        "params_added": params_added,
        "size_added_kb": round(size_kb, 3),
        "align_step_time_ms": float(1000 * np.median(step_times)) if step_times else 0.0,
        "align_total_time_s": float(sum(step_times)),
        "n_train_trials": int(len(tr.split)), "n_val_trials": int(len(va.split)), "n_test_trials": int(len(te.split)),
        **latent_spread(lat_te.cpu().numpy(), te.condition, src_te.cpu().numpy(), source.subset("test").condition if len(source.subset("test").split) else source.subset("train", "val").condition),
    }
    if te.y is not None and vae.readout is not None:
        pred = decode_behaviour(vae, vae_payload, torch.as_tensor(te.x, device=device), final)
        metrics["test_r2_pct"] = r2_pct(te.y, pred)
        metrics["test_rmse"] = rmse(te.y, pred)
        metrics["val_r2_pct"] = r2_pct(va.y, decode_behaviour(vae, vae_payload, x_va, final))
        if restarts > 1:  # every restart's test score, for the report on selection only (never used to choose)
            metrics["restart_test_r2_pct"] = [round(r2_pct(te.y, decode_behaviour(vae, vae_payload, torch.as_tensor(te.x, device=device), read_in.linear(r))), 3) for r in range(restarts)]
    if history:
        metrics["loss_first"] = float(np.mean([h["loss"] for h in history[:5]]))
        metrics["loss_final"] = float(np.mean([h["loss"] for h in history[-5:]]))
    return {
        "metrics": metrics,
        "read_in": {k: v.detach().cpu() for k, v in final.state_dict().items()},
        "test_latents": lat_te.cpu(),
        "val_latents": lat_va.cpu(),
        "test_condition": [str(c) for c in te.condition],
        "test_split_index": torch.as_tensor(np.flatnonzero(target.mask("test"))),
        # every restart's final read-in (R, H, N) / (R, H): its criterion can be re-scored without retraining
        "restart_read_ins": {"weight": read_in.weight.detach().cpu(), "bias": read_in.bias.detach().cpu()},
    }


def latent_spread(aligned: np.ndarray, aligned_cond: np.ndarray, source: np.ndarray, source_cond: np.ndarray) -> dict[str, float]:
    """How much of the source latents' spread aligned latents keep (the collapse check), both (trial, time, d):
    ``latent_var_ratio`` — total variance over trials × bins, aligned / source; ``condition_var_ratio`` —
    variance of the per-condition mean trajectories (between-direction structure), aligned / source."""
    def cond_var(z, cond):
        means = np.stack([z[np.asarray(cond) == c].mean(0) for c in np.unique(cond)])  # (C, T, d)
        return float(means.var(0).sum())

    tot = lambda z: float(z.reshape(-1, z.shape[-1]).var(0).sum())  # noqa: E731
    return {"latent_var_ratio": round(tot(aligned) / max(tot(source), 1e-12), 4),
            "condition_var_ratio": round(cond_var(aligned, aligned_cond) / max(cond_var(source, source_cond), 1e-12), 4)}


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
