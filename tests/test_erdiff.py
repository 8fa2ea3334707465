"""ERDiff: diffusion prior, maximum-likelihood alignment, baselines, synthetic generator, CLI and DAG plumbing."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from neurodyn.errors import InputError
from neurodyn.models.erdiff import baselines
from neurodyn.models.erdiff.data import load_trials
from neurodyn.models.erdiff.diffusion import DiffusionPrior, NoiseSchedule, hutchinson_divergence
from neurodyn.models.erdiff.mla import MaximumLikelihoodAlignment, dsm_weights

sys.path.insert(0, str(Path(__file__).parent))
from erdiff_support import bundled_store, synthetic_store  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PRIOR_HP = dict(steps=50, schedule="linear", beta_start=1e-4, beta_end=0.02, width=16, heads=2, ff=32, blocks=1)


TEMPLATE = 0.8 * torch.cos(torch.linspace(0, math.pi, 6))


def _toy_trials(n: int, gen: torch.Generator) -> torch.Tensor:
    """Two-mode trials, (n, 6, 2): dimension 0 ramps up or down (sign ±1), dimension 1 follows a fixed cosine.
    Its only linear symmetry is the sign of dimension 0, so a rotation of it is identifiable up to that flip."""
    sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    ramp = torch.linspace(-1, 1, 6)
    d0 = sign[:, None] * ramp[None] + 0.05 * torch.randn(n, 6, generator=gen)
    d1 = TEMPLATE[None] + 0.05 * torch.randn(n, 6, generator=gen)
    return torch.stack([d0, d1], dim=-1)


@pytest.fixture(scope="module")
def toy_prior():
    return _fit_toy_prior()


def _fit_toy_prior(steps: int = 600) -> tuple[DiffusionPrior, list[float]]:
    torch.set_num_threads(1)  # module fixtures run before the autouse one-thread fixture; oversubscription is slow
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    prior = DiffusionPrior(n_bins=6, n_latent=2, **PRIOR_HP)
    opt = torch.optim.Adam(prior.denoiser.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        loss, _, _ = prior.dsm_loss(_toy_trials(64, gen), gen=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return prior.eval(), losses


def test_noise_schedules_end_near_pure_noise():
    """p_T must be close to π = N(0, I) for the bound's constant term to be small, whatever T is (the unscaled
    DDPM range at T = 50 left ᾱ_T = 0.60); T = 1000 is Ho et al.'s schedule unchanged."""
    for steps in (10, 50, 300, 1000):
        for schedule in ("linear", "cosine"):
            s = NoiseSchedule(steps=steps, schedule=schedule, beta_start=1e-4, beta_end=0.02)
            assert s.alpha_bar[-1] < 0.01, (steps, schedule, s.alpha_bar[-1])
            assert torch.all(s.alpha_bar[1:] < s.alpha_bar[:-1]) and s.alpha_bar[0] > 0.9
    ddpm = NoiseSchedule(steps=1000, schedule="linear", beta_start=1e-4, beta_end=0.02)
    assert torch.allclose(ddpm.betas, torch.linspace(1e-4, 0.02, 1000))
    prior = DiffusionPrior(n_bins=3, n_latent=2, **PRIOR_HP)
    uniform, likelihood = dsm_weights(prior, "uniform"), dsm_weights(prior, "likelihood")
    assert torch.allclose(uniform, torch.ones(50)) and abs(likelihood.mean().item() - 1) < 1e-5
    betas, abar = prior.schedule.betas, prior.schedule.alpha_bar
    assert torch.allclose(likelihood, (betas / (1 - abar)) / (betas / (1 - abar)).mean())
    # with Ho et al.'s 1000 steps it stresses small noise levels 50-fold; the rescaled short schedules much less
    long = DiffusionPrior(n_bins=3, n_latent=2, **{**PRIOR_HP, "steps": 1000})
    w = dsm_weights(long, "likelihood")
    assert w[0] > 40 * w[-1]


def test_diffusion_loss_falls_and_samples_match_training_statistics(toy_prior):
    prior, losses = toy_prior
    assert np.mean(losses[-50:]) < 0.6 * np.mean(losses[:20])
    samples = prior.sample(256, gen=torch.Generator().manual_seed(1))
    # dimension 1 follows the template on average, dimension 0 ramps up in about half the trials
    assert (samples[..., 1].mean(0) - TEMPLATE).abs().max() < 0.25
    ramp_sign = torch.sign(samples[:, -1, 0] - samples[:, 0, 0])
    assert 0.2 < (ramp_sign > 0).float().mean() < 0.8  # both modes are produced
    assert abs(samples[..., 0].abs().mean() - 0.6) < 0.25  # |ramp| averages 0.6 over bins


def test_hutchinson_matches_closed_form_divergence():
    z = torch.randn(3, 5, 4)
    a = torch.randn(4, 4)
    est = hutchinson_divergence(lambda v: v @ a.T, z, n_samples=2000, gen=torch.Generator().manual_seed(0))
    assert torch.allclose(est, torch.full((3,), 5 * torch.trace(a).item()), atol=0.15 * 5 * a.abs().sum().item() ** 0.5 + 0.5)
    # ERDiff's drift f = −½βZ has divergence −½β·l·d whatever Z is (so it carries no gradient to φ)
    prior = DiffusionPrior(n_bins=5, n_latent=4, **PRIOR_HP)
    mla = MaximumLikelihoodAlignment(prior=prior)
    t = torch.tensor([3, 3, 3])
    div = hutchinson_divergence(lambda v: mla.drift(v, t), z, gen=torch.Generator().manual_seed(0))
    assert torch.allclose(div, torch.full((3,), -0.5 * prior.schedule.betas[3].item() * 20), rtol=1e-5)


def _align_rotation(prior: DiffusionPrior, steps: int = 300) -> float:
    """Target latents = source latents rotated by 50°; fit a linear read-in against the frozen prior; return the
    orientation error of read-in ∘ rotation (polar factor) from the identity — or from diag(−1, 1), the toy
    distribution's own symmetry. Maximum likelihood may shrink the scale (mode seeking): only orientation counts."""
    for p in prior.parameters():
        p.requires_grad_(False)
    theta = math.radians(50)
    rot = torch.tensor([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    gen = torch.Generator().manual_seed(2)
    torch.manual_seed(2)
    read_in = torch.nn.Linear(2, 2)
    with torch.no_grad():
        read_in.weight.copy_(torch.eye(2))
        read_in.bias.zero_()
    mla = MaximumLikelihoodAlignment(prior=prior, divergence_weight=1.0)
    opt = torch.optim.Adam(read_in.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = mla(read_in(_toy_trials(64, gen) @ rot.T), gen=gen)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    u, _, vt = torch.linalg.svd(read_in.weight.detach() @ rot)
    orient = u @ vt
    return min((orient - torch.eye(2)).abs().max().item(), (orient - torch.diag(torch.tensor([-1.0, 1.0]))).abs().max().item())


def test_alignment_recovers_a_known_rotation(toy_prior):
    prior, _ = toy_prior
    assert _align_rotation(prior) < 0.25


def test_rotation_check_fails_without_a_trained_prior():
    """The same check on an untrained denoiser: the read-in does not find the rotation (the check can fail)."""
    torch.manual_seed(0)
    untrained = DiffusionPrior(n_bins=6, n_latent=2, **PRIOR_HP).eval()
    assert _align_rotation(untrained) > 0.25
    assert _align_rotation(untrained, steps=0) > 0.5  # the starting point is 50° off (sin 50° = 0.77)


def test_prior_prefers_unrotated_trajectories_and_beats_a_gaussian(toy_prior):
    """The checks every trained prior reports (runner.prior_checks), on the toy prior: held-out trials rotated
    in latent space score worse than the unrotated ones by a margin, and the prior
    denoises better than the exact Gaussian reference. An untrained denoiser passes neither."""
    from neurodyn.models.erdiff.runner import prior_checks

    prior, _ = toy_prior
    gen = torch.Generator().manual_seed(5)
    held, fit_ = _toy_trials(128, gen), _toy_trials(256, gen)
    checks = prior_checks(prior, held, fit_, seed=0, draws=16)
    assert checks["dsm_heldout"] < checks["dsm_gaussian_ref"] - 0.05
    assert checks["rotation_margin_90"] > 0.3 and checks["rotation_margin_45"] > 0.1
    assert checks["rotation_margin_15"] > 0
    torch.manual_seed(0)
    untrained = prior_checks(DiffusionPrior(n_bins=6, n_latent=2, **PRIOR_HP).eval(), held, fit_, seed=0, draws=16)
    assert untrained["dsm_heldout"] > untrained["dsm_gaussian_ref"] and untrained["rotation_margin_90"] < 0.3


def _fit_read_in(prior, target, source, *, steps, **weights):
    """A linear read-in 2→2 fitted to target latents under the alignment objective (starting at identity)."""
    torch.manual_seed(3)
    gen = torch.Generator().manual_seed(3)
    read_in = torch.nn.Linear(2, 2)
    with torch.no_grad():
        read_in.weight.copy_(torch.eye(2))
        read_in.bias.zero_()
    mla = MaximumLikelihoodAlignment(prior=prior, **weights)
    opt = torch.optim.Adam(read_in.parameters(), lr=3e-2)
    for _ in range(steps):
        idx = torch.randint(0, target.shape[0], (64,), generator=gen)
        sidx = torch.randint(0, source.shape[0], (64,), generator=gen)
        loss = mla(read_in(target[idx]), gen=gen, z_source=source[sidx])["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return read_in(target)


def test_moment_term_keeps_the_aligned_variance(toy_prior):
    """Anti-collapse on a synthetic pair with a known rotation (target = source trials rotated by 50° and shrunk
    to 30 %): with the per-bin KL(N_source ‖ N_target) the aligned latents keep ≥ 80 % of the source's variance
    and the rotation is undone; the objective scores a collapsed version of the right latents far worse."""
    from neurodyn.models.erdiff.mla import binwise_gaussian_kl

    prior, _ = toy_prior
    for p in prior.parameters():
        p.requires_grad_(False)
    gen = torch.Generator().manual_seed(4)
    source, clean = _toy_trials(512, gen), _toy_trials(512, gen)
    theta = math.radians(50)
    rot = torch.tensor([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    target = 0.3 * clean @ rot.T
    aligned = _fit_read_in(prior, target, source, steps=300, moment_weight=1.0)
    ratio = (aligned.reshape(-1, 2).var(0).sum() / source.reshape(-1, 2).var(0).sum()).item()
    assert ratio > 0.8, ratio  # (the denoising term alone keeps ~0.73 here)
    err = min((aligned - clean).pow(2).mean().item(), (aligned - clean * torch.tensor([-1.0, 1.0])).pow(2).mean().item())
    assert err < 0.1 * clean.pow(2).mean().item(), err
    mla = MaximumLikelihoodAlignment(prior=prior, moment_weight=1.0)
    g = torch.Generator().manual_seed(9)
    right = mla(clean[:256], gen=g, z_source=source[:256])["loss"].item()
    g = torch.Generator().manual_seed(9)
    collapsed = mla(0.1 * clean[:256], gen=g, z_source=source[:256])["loss"].item()
    assert collapsed > right + 10.0
    # the KL is the closed form of two known Gaussians, per bin
    a = torch.randn(20000, 1, 2, generator=gen)
    b = 2.0 * torch.randn(20000, 1, 2, generator=gen) + 1.0
    exact = 0.5 * (2 * 0.25 + 2 * 0.25 - 2 + 2 * math.log(4.0))  # KL(N(0, I) ‖ N(1, 4I)) in 2-D
    assert abs(binwise_gaussian_kl(a, b, ridge=1e-6).item() - exact) < 0.05


def _three_clusters(n: int, gen: torch.Generator, degrees: float = 0.0) -> torch.Tensor:
    """(n, 4, 2) trials in three clusters at 0°/120°/240° (+ ``degrees``), growing over 4 bins: per bin the mean is 0
    and the covariance isotropic, so any rotation leaves both unchanged."""
    angle = torch.deg2rad(torch.randint(0, 3, (n,), generator=gen) * 120.0 + degrees)
    centre = torch.stack([torch.cos(angle), torch.sin(angle)], -1)  # (n, 2)
    scale = torch.linspace(1.0, 1.6, 4)
    return centre[:, None] * scale[None, :, None] + 0.1 * torch.randn(n, 4, 2, generator=gen)


def test_ot_term_tells_a_rotation_the_moment_term_cannot():
    """Why ERDiff's objective carries the NeurIPS code's Sinkhorn OT term: a 60° rotation of three-cluster trials
    keeps every per-bin mean and covariance, so the Gaussian KL cannot tell it from the right latents (the wrong
    alignments that won on the bundled pair's seeds 1 and 3 had moment terms as low as the right ones); OT over
    whole trajectories puts the rotated clusters where the source has none and scores them far worse."""
    gen = torch.Generator().manual_seed(11)
    source = _three_clusters(240, gen)
    right, rotated = _three_clusters(240, gen), _three_clusters(240, gen, degrees=60.0)
    prior = DiffusionPrior(n_bins=4, n_latent=2, **PRIOR_HP).eval()  # only its (identity) standardisation is used
    both = torch.cat([right, rotated])
    kl = MaximumLikelihoodAlignment(prior=prior, dsm_weight=0.0, moment_weight=1.0)(both, z_source=source, groups=2)["per_group"]
    ot = MaximumLikelihoodAlignment(prior=prior, dsm_weight=0.0, ot_weight=1.0)(both, z_source=source, groups=2)["per_group"]
    assert abs(kl[1] - kl[0]) < 0.1, kl  # blind: both near 0 nats
    assert ot[1] > 5 * max(ot[0].item(), 0.05), ot


def _tiny_pair(gen: torch.Generator):
    """Source/target Trials (8 channels, 6 bins, 60 trials) with behaviour, the target a mixed copy of the source."""
    from neurodyn.models.erdiff.data import Trials

    n, l, c = 60, 6, 8
    z = torch.randn(n, l, 2, generator=gen).cumsum(1).numpy()
    rates = np.exp(0.5 * z @ np.asarray(torch.randn(2, c, generator=gen)))
    mix = np.asarray(torch.randn(c, c, generator=gen))
    split = np.array(["train"] * 36 + ["val"] * 12 + ["test"] * 12)
    cond = np.array([f"c{i % 4}" for i in range(n)])

    def trials(x, name):
        x = x.astype(np.float32)
        return Trials(name=name, x=x, observed=np.ones_like(x, bool), y=z.astype(np.float32), split=split, condition=cond,
                      latents=None, kind="spikes", bin_ms=20.0, attrs={})

    return trials(rates, "s"), trials(np.abs(rates @ mix), "t")


def test_every_method_trains_restarts_together():
    """Each Table 1 method with 2 restarts in one stacked batch: both read-ins move, each restart has its own
    criterion, and the reported read-in is the chosen restart's."""
    from neurodyn.models.erdiff.runner import align, train_prior, train_source

    gen = torch.Generator().manual_seed(1)
    source, target = _tiny_pair(gen)
    vae, out = train_source(source, {**SMALL_VAE, "latent_dim": 2, "steps": 5}, seed=0, device="cpu")
    prior, _ = train_prior(vae, source, {**SMALL_PRIOR, "steps": 2}, variant="full", seed=0, device="cpu")
    params = {**SMALL_ALIGN, "restarts": 2, "select": "objective", "read_in_init": "random", "steps": 2}
    for method in ("oracle", "oracle_matched", *sorted(baselines.NAMES), "erdiff", "erdiff_moment_only"):
        block = {"moment_weight": 1.0} if method.startswith("erdiff") or method == "oracle_matched" else METHOD_BLOCKS.get(method, {})
        r = align(method=method, vae=vae, vae_payload=out["payload"], source=source, target=target, params=params,
                  method_params=block, prior=prior, seed=0, device="cpu")
        m = r["metrics"]
        assert m["restarts"] == 2 and len(m["restart_val_scores"]) == 2 and math.isfinite(m["test_r2_pct"]), method
        if not method.startswith("oracle"):
            assert len(set(m["restart_criteria"])) == 2 and m["selected_restart"] == int(np.argmin(m["restart_criteria"])), method
        assert r["read_in"]["weight"].shape == (SMALL_VAE["hidden"], target.n_channels)


def test_criterion_averages_draws_shared_by_the_restarts():
    """average_over_draws: identical read-ins get identical objectives (one draw shared by all: common random
    numbers); the average is an unbiased Monte-Carlo mean whose spread falls as 1/sqrt(draws)."""
    from neurodyn.models.erdiff.runner import average_over_draws

    n, l, d = 20, 3, 2
    mean0 = torch.randn(n, l, d, generator=torch.Generator().manual_seed(0))
    mean = torch.cat([mean0, mean0, mean0 + 1.0])  # groups 0 and 1 identical, group 2 shifted
    logvar = torch.zeros_like(mean)
    src = torch.zeros(5, l, d)

    def score(z_t, z_s, t, eps):  # squared norm per group: E = ‖mean‖² + l·d per trial (unit variance)
        return z_t.view(3, n, -1).pow(2).sum(-1).mean(1)

    truth = [float(m.pow(2).flatten(1).sum(1).mean() + l * d) for m in mean.view(3, n, l, d)]
    spread = {}
    for draws in (4, 256):
        runs = np.array([average_over_draws(mean, logvar, src, src, groups=3, draws=draws, gen=torch.Generator().manual_seed(k), score=score)
                         for k in range(20)])
        assert np.array_equal(runs[:, 0], runs[:, 1])
        spread[draws] = runs.std(0)
        assert np.all(np.abs(runs.mean(0) - truth) < 4 * runs.std(0) / np.sqrt(20) + 1e-9)
    assert np.all(spread[256] < spread[4] / 4)  # 1/sqrt(64) = 1/8 in expectation


@pytest.mark.parametrize("screen_steps", [0, 4])
def test_restart_selection_uses_no_target_labels(screen_steps):
    """With select: objective the restart is chosen by the label-free objective on target train+val trials:
    shuffling (and rescaling) the target behaviour changes neither the choice nor the read-in — only the scores.
    The same with screening (the choice made after ``screen_steps``, the kept restart trained on alone)."""
    from dataclasses import replace

    from neurodyn.models.erdiff.runner import align, train_prior, train_source

    gen = torch.Generator().manual_seed(0)
    source, target = _tiny_pair(gen)
    vae, out = train_source(source, {**SMALL_VAE, "latent_dim": 2, "steps": 40}, seed=0, device="cpu")
    prior, _ = train_prior(vae, source, {**SMALL_PRIOR, "steps": 20}, variant="full", seed=0, device="cpu")
    params = {**SMALL_ALIGN, "restarts": 3, "select": "objective", "read_in_init": "random", "steps": 10, "screen_steps": screen_steps}
    perm = np.random.default_rng(0).permutation(len(target.split))
    shuffled = replace(target, y=3.0 * target.y[perm] + 1.0)
    runs = {}
    for method, block in (("erdiff", {"moment_weight": 1.0}), ("jsdm", {})):
        for name, tgt in (("real", target), ("shuffled", shuffled)):
            runs[method, name] = align(method=method, vae=vae, vae_payload=out["payload"], source=source, target=tgt, params=params,
                                       method_params=block, prior=prior, seed=0, device="cpu")
        a, b = runs[method, "real"]["metrics"], runs[method, "shuffled"]["metrics"]
        assert a["selected_restart"] == b["selected_restart"]
        # equal up to float round-off (two runs on the same labels differ by as much: kernel warm-up)
        assert np.allclose(a["restart_criteria"], b["restart_criteria"], rtol=1e-5)
        assert torch.allclose(runs[method, "real"]["read_in"]["weight"], runs[method, "shuffled"]["read_in"]["weight"], atol=1e-5)
        assert a["selected_restart"] == int(np.argmin(a["restart_criteria"])) and len(set(a["restart_criteria"])) == 3
        assert a["test_r2_pct"] != b["test_r2_pct"]  # the labels did change: only the test score sees them
    # the val-R² selection does read them: its scores move with the shuffle
    best = {name: align(method="jsdm", vae=vae, vae_payload=out["payload"], source=source, target=tgt, params={**params, "select": "best"},
                        method_params={}, prior=None, seed=0, device="cpu")["metrics"] for name, tgt in (("real", target), ("shuffled", shuffled))}
    assert best["real"]["restart_val_scores"] != best["shuffled"]["restart_val_scores"]


def test_screening_makes_the_end_of_run_choice_early():
    """screen_steps = k: the restarts' criteria and val scores, and so the choice, are exactly those of a run that
    stops after k steps; the other restarts stay as they were at step k, and only the kept one trains on."""
    from neurodyn.models.erdiff.runner import align, train_prior, train_source

    gen = torch.Generator().manual_seed(2)
    source, target = _tiny_pair(gen)
    vae, out = train_source(source, {**SMALL_VAE, "latent_dim": 2, "steps": 20}, seed=0, device="cpu")
    prior, _ = train_prior(vae, source, {**SMALL_PRIOR, "steps": 10}, variant="full", seed=0, device="cpu")
    base = {**SMALL_ALIGN, "restarts": 3, "select": "objective", "read_in_init": "random"}
    for method, block in (("erdiff", {"moment_weight": 1.0}), ("cycle_gan", METHOD_BLOCKS["cycle_gan"])):
        def run(**p):
            return align(method=method, vae=vae, vae_payload=out["payload"], source=source, target=target, params={**base, **p},
                         method_params=block, prior=prior, seed=0, device="cpu")
        short, screened, full = run(steps=3, screen_steps=0), run(steps=8, screen_steps=3), run(steps=8, screen_steps=0)
        a, b = short["metrics"], screened["metrics"]
        assert b["screen_steps"] == 3 and a["screen_steps"] == 0
        assert np.allclose(a["restart_criteria"], b["restart_criteria"], rtol=1e-5), method
        assert a["selected_restart"] == b["selected_restart"] == int(np.argmin(b["restart_criteria"])), method
        kept = b["selected_restart"]
        others = [r for r in range(3) if r != kept]
        assert np.allclose([a["restart_val_scores"][r] for r in others], [b["restart_val_scores"][r] for r in others], atol=1e-3), method
        # the kept restart trained 5 more steps alone: its read-in moved on from step 3 (and from the unscreened run's)
        assert not torch.allclose(short["read_in"]["weight"], screened["read_in"]["weight"]), method
        assert full["metrics"]["screen_steps"] == 0 and len(full["metrics"]["restart_criteria"]) == 3


def test_two_stages_choose_like_the_prior_free_ablation_then_refine_under_the_prior():
    """refine_steps = k: for align.steps steps ERDiff trains exactly as its w/o-prior ablation (same restarts, same
    criteria, same choice: the denoising term draws nothing while off), then the kept restart trains k more steps
    under the full objective (its read-in moves on from the ablation's; the others stay as the ablation left them).
    The DSM-only ablation, which has no other term, has one stage."""
    from neurodyn.models.erdiff.mla import MaximumLikelihoodAlignment
    from neurodyn.models.erdiff.runner import align, train_prior, train_source

    gen = torch.Generator().manual_seed(4)
    source, target = _tiny_pair(gen)
    vae, out = train_source(source, {**SMALL_VAE, "latent_dim": 2, "steps": 20}, seed=0, device="cpu")
    prior, _ = train_prior(vae, source, {**SMALL_PRIOR, "steps": 10}, variant="full", seed=0, device="cpu")
    params = {**SMALL_ALIGN, "restarts": 3, "select": "objective", "read_in_init": "random", "steps": 4, "screen_steps": 0}
    block = {"moment_weight": 1.0, "ot_weight": 1.0}

    def run(method, refine):
        return align(method=method, vae=vae, vae_payload=out["payload"], source=source, target=target, params=params,
                     method_params={**block, "refine_steps": refine}, prior=prior, seed=0, device="cpu")

    no_prior, two_stage, one_stage = run("erdiff_no_prior", 5), run("erdiff", 5), run("erdiff", 0)
    a, b = no_prior["metrics"], two_stage["metrics"]
    assert (a["steps"], a["screen_steps"], b["steps"], b["screen_steps"]) == (4, 0, 9, 4)
    assert np.allclose(a["restart_criteria"], b["restart_criteria"], rtol=1e-5)
    assert a["selected_restart"] == b["selected_restart"]
    kept = b["selected_restart"]
    assert not torch.allclose(no_prior["read_in"]["weight"], two_stage["read_in"]["weight"])
    others = [r for r in range(3) if r != kept]
    assert torch.allclose(no_prior["restart_read_ins"]["weight"][others], two_stage["restart_read_ins"]["weight"][others], atol=1e-6)
    # in one stage the prior shapes every step: the restarts' criteria differ from the ablation's
    assert one_stage["metrics"]["steps"] == 4 and not np.allclose(a["restart_criteria"], one_stage["metrics"]["restart_criteria"], rtol=1e-5)
    z = torch.randn(6, source.x.shape[1], 2, generator=gen)
    dsm_only = MaximumLikelihoodAlignment(prior=prior, prior_warmup_steps=4)
    dsm_only.at_step(0)
    assert dsm_only.prior_warmup_steps == 0 and dsm_only.prior_on
    full = MaximumLikelihoodAlignment(prior=prior, prior_warmup_steps=4, **block)
    for step, on in ((0, False), (3, False), (4, True)):
        full.at_step(step)
        loss = full(z, z_source=z, gen=torch.Generator().manual_seed(0))
        assert (float(loss["dsm"]) != 0.0) is on, step


def test_objective_is_scored_at_a_reference_read_in_with_the_chosen_ones_draws():
    """criterion_at_reference scores the label-free objective at another read-in (the oracle's, in a job) with
    the draws used at the chosen one: the chosen read-in as its own reference scores exactly the same."""
    from neurodyn.models.erdiff.runner import align, train_prior, train_source

    gen = torch.Generator().manual_seed(3)
    source, target = _tiny_pair(gen)
    vae, out = train_source(source, {**SMALL_VAE, "latent_dim": 2, "steps": 20}, seed=0, device="cpu")
    prior, _ = train_prior(vae, source, {**SMALL_PRIOR, "steps": 10}, variant="full", seed=0, device="cpu")
    params = {**SMALL_ALIGN, "restarts": 2, "select": "objective", "read_in_init": "random", "steps": 4}
    kw = dict(vae=vae, vae_payload=out["payload"], source=source, target=target, params=params, prior=prior, seed=0, device="cpu")
    oracle = align(method="oracle", method_params={}, **kw)
    for method, block in (("erdiff", {"moment_weight": 1.0}), ("jsdm", {})):
        first = align(method=method, method_params=block, reference_read_in=oracle["read_in"], **kw)
        m = first["metrics"]
        assert math.isfinite(m["criterion_chosen"]) and math.isfinite(m["criterion_at_reference"]), method
        assert m["criterion_chosen"] != m["criterion_at_reference"], method
        itself = align(method=method, method_params=block, reference_read_in=first["read_in"], **kw)["metrics"]
        assert itself["criterion_at_reference"] == pytest.approx(itself["criterion_chosen"], rel=1e-6), method
    dann = align(method="dann", method_params=METHOD_BLOCKS["dann"], reference_read_in=oracle["read_in"], **kw)["metrics"]
    assert "criterion_at_reference" not in dann  # an adversary's criterion depends on what it trained


def test_matched_oracle_trades_little_decoding_for_source_like_latents():
    """oracle_matched = behaviour MSE + w · Σ_bins KL(N_source ‖ N_target): its latents are closer to the source's
    distribution than the plain oracle's (lower KL), and it still decodes (R² near the plain oracle's)."""
    from neurodyn.models.erdiff.mla import binwise_gaussian_kl
    from neurodyn.models.erdiff.runner import align, posterior, train_source

    gen = torch.Generator().manual_seed(4)
    source, target = _tiny_pair(gen)
    vae, out = train_source(source, {**SMALL_VAE, "latent_dim": 2, "steps": 60}, seed=0, device="cpu")
    params = {**SMALL_ALIGN, "steps": 80, "lr": 1e-2}
    kw = dict(vae=vae, vae_payload=out["payload"], source=source, target=target, params=params, prior=None, seed=0, device="cpu")
    plain, matched = (align(method=m, method_params=b, **kw) for m, b in (("oracle", {}), ("oracle_matched", {"moment_weight": 0.1})))
    src, _ = posterior(vae, torch.as_tensor(source.subset("test").x))
    kl = {name: float(binwise_gaussian_kl(src, r["test_latents"], ridge=1e-3)) for name, r in (("plain", plain), ("matched", matched))}
    assert kl["matched"] < kl["plain"], kl
    assert matched["metrics"]["test_r2_pct"] > plain["metrics"]["test_r2_pct"] - 25, (matched["metrics"]["test_r2_pct"], plain["metrics"]["test_r2_pct"])


def test_screen_steps_must_be_fewer_than_steps():
    from neurodyn.config import check_references

    with pytest.raises(InputError, match="erdiff.align.screen_steps"):
        check_references({"erdiff": {"align": {"steps": 10, "screen_steps": 10}}})
    check_references({"erdiff": {"align": {"steps": 10, "screen_steps": 9}}})


@pytest.mark.parametrize("name", sorted(baselines.NAMES))
def test_each_baseline_runs_one_step_on_cpu(name):
    torch.manual_seed(0)
    b, l, d, n = 8, 6, 3, 5
    read_in = torch.nn.Linear(n, d)
    x_t = torch.rand(b, l, n) * 3
    z_s = torch.randn(b, l, d)

    def encode(x):
        return read_in(x), torch.zeros(x.shape[0], l, d)

    objective = baselines.build(name, n_bins=l, n_latent=d, n_target_channels=n)
    opt = torch.optim.Adam(list(read_in.parameters()) + list(objective.parameters()), lr=1e-2)
    before = read_in.weight.detach().clone()
    out = objective(z_t=read_in(x_t), z_s=z_s, x_t=x_t, encode=encode, gen=torch.Generator().manual_seed(0))
    assert torch.isfinite(out["loss"])
    opt.zero_grad()
    out["loss"].backward()
    opt.step()
    assert not torch.equal(before, read_in.weight), f"{name} sends no gradient to the target read-in"


def test_synthetic_generator_has_its_fixed_points():
    from neurodyn.simulate.erdiff_bernoulli import DEFAULTS, dynamics_step, fixed_points, simulate, simulate_arrays

    for fp in fixed_points({}):
        z = np.asarray(fp["z"])
        assert np.allclose(dynamics_step(z, {}), z)
    a = simulate_arrays({"n_trials": 60, "noise_sd": 0.0, "n_bins": 60}, seed=1)
    ends = a["latents"][:, -1]
    assert np.allclose(np.abs(ends[:, 0]), 1.0, atol=0.05)  # noiseless trials settle on the stable points
    assert a["observations"].min() >= 0 and a["observations"].max() <= 1
    assert set(a["split"]) == {"train", "val", "test"}
    rec = simulate({"n_trials": 10, "domain": "target"}, seed=3)
    assert rec.observations.shape == (10 * DEFAULTS["n_bins"], DEFAULTS["n_channels"])
    assert rec.attrs["fixed_points"][1]["kind"] == "saddle"
    src = simulate_arrays({"n_trials": 5, "domain": "source"}, seed=3)
    tgt = simulate_arrays({"n_trials": 5, "domain": "target"}, seed=3)
    assert np.allclose(src["latents"], tgt["latents"]) and not np.allclose(src["observations"], tgt["observations"])


def test_synthetic_store_through_nwb_and_convert_is_the_generators_data(tmp_path):
    from neurodyn.simulate.erdiff_bernoulli import simulate_arrays

    params = {"n_trials": 24, "n_bins": 8, "n_channels": 6, "domain": "target"}
    synthetic_store(params, 5, tmp_path / "target.zarr")
    trials, truth = load_trials(tmp_path / "target.zarr"), simulate_arrays(params, 5)
    assert trials.kind == "observations" and trials.y is None
    assert np.array_equal(trials.x, truth["observations"]) and np.array_equal(trials.latents, truth["latents"])
    assert list(trials.split) == list(truth["split"]) and list(trials.condition) == list(truth["condition"])


SMALL_VAE = dict(latent_dim=3, hidden=16, rnn="gru", rnn_layers=1, bidirectional=True, decoder_hidden=0, kl_weight=0.1,
                 kl_warmup_steps=10, behaviour_weight=1.0, lr=3e-3, weight_decay=0.0, batch_trials=32, steps=60, checkpoint_every=0)
SMALL_PRIOR = dict(diffusion_steps=50, schedule="linear", beta_start=1e-4, beta_end=0.02, noise_scale=1.0, width=8, heads=2, ff=16,
                   blocks=1, lr=2e-3, batch_trials=32, posterior_samples=True, steps=30, checkpoint_every=0)
SMALL_ALIGN = dict(read_in_init="source", restarts=1, screen_steps=0, steps=12, lr=1e-3, aux_lr=1e-3, batch_trials=16, eval_every=4, select="best",
                   criterion_draws=2, clip_grad=5.0, checkpoint_every=0)
METHOD_BLOCKS = {"erdiff": {"weighting": "uniform"}, "cycle_gan": {"hidden": 8}, "jsdm": {}, "sasa": {"hidden": 8, "segments": [3, 6]},
                 "dann": {"hidden": 8}, "rdammd": {"hidden": 8}, "daf": {"hidden": 8}}


def _experiment_params(plan, *, pair="m1", setting="cross_day", behaviour="erdiff_pos", synthetic=None, vae=None):
    return {"vae": vae or SMALL_VAE, "prior": SMALL_PRIOR, "align": SMALL_ALIGN, "method": METHOD_BLOCKS,
            "plan": [{"method": m, "noise": n} for m, n in plan], "behaviour": behaviour, "device": "cpu",
            "pair": pair, "setting": setting, "synthetic": synthetic}


@pytest.mark.shared_data
def test_experiment_on_the_converted_real_pair_selects_on_val_and_scores_test(shared_data, tmp_path):
    """The bundled pair as `neurodyn convert` writes it -> one experiment job (source VAE, prior, three methods)."""
    from neurodyn.erdiff.jobs import run

    for role in ("source", "target"):
        bundled_store(shared_data, role, tmp_path / f"{role}.zarr")
    src, tgt = load_trials(tmp_path / "source.zarr"), load_trials(tmp_path / "target.zarr")
    assert src.x.shape == (168, 14, 187) and tgt.x.shape == (168, 14, 172) and src.y.shape == (168, 14, 2)
    assert {str(c) for c in tgt.condition} == {f"direction={k}" for k in range(8)}
    plan = [("no_align", 1.0), ("jsdm", 1.0), ("erdiff_wo_t", 1.0), ("erdiff_wo_t", 0.5)]
    out = tmp_path / "job"
    job = run(_experiment_params(plan, vae={**SMALL_VAE, "steps": 250}), source_session=str(tmp_path / "source.zarr"), target_session=str(tmp_path / "target.zarr"), seed=0, out=str(out))
    assert job["n_alignments"] == 4 and not (tmp_path / "job.partial").exists()
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(
        ["source", "prior_wo_t_n1", "prior_wo_t_n0.5", "no_align_n1", "jsdm_n1", "erdiff_wo_t_n1", "erdiff_wo_t_n0.5"])
    src_m = json.loads((out / "source" / "metrics.json").read_text())
    assert src_m["source_train_r2_pct"] > 0
    n_test = int((tgt.split == "test").sum())
    for leaf in ("no_align_n1", "jsdm_n1", "erdiff_wo_t_n1"):
        m = json.loads((out / leaf / "metrics.json").read_text())
        assert m["n_test_trials"] == n_test and m["n_val_trials"] == int((tgt.split == "val").sum())
        assert math.isfinite(m["test_r2_pct"]) and m["selected_step"] in ((0,) if leaf.startswith("no_align") else (4, 8, 12))
    erd = json.loads((out / "erdiff_wo_t_n1" / "metrics.json").read_text())
    assert erd["params_added"] > 0
    ck = torch.load(out / "erdiff_wo_t_n1" / "aligned.pt", weights_only=True)
    assert ck["test_latents"].shape == (n_test, 14, 3)
    # the noise scale reaches the prior: different β, so a different prior
    p1 = torch.load(out / "prior_wo_t_n1" / "prior.pt", weights_only=True)["state_dict"]
    p05 = torch.load(out / "prior_wo_t_n0.5" / "prior.pt", weights_only=True)["state_dict"]
    assert torch.allclose(p05["schedule.betas"], 0.5 * p1["schedule.betas"])


def test_experiment_resumes_finished_parts(tmp_path):
    """A re-run after a kill reuses finished parts in <out>.partial (same config) instead of retraining them."""
    from neurodyn.erdiff.jobs import run

    params = {"n_trials": 40, "n_bins": 6, "n_channels": 8}
    for dom in ("source", "target"):
        synthetic_store({**params, "domain": dom}, 1, tmp_path / f"{dom}.zarr")
    spec = _experiment_params([("no_align", 1.0), ("jsdm", 1.0)], behaviour=None, setting="synthetic", synthetic={**params, "domain": "target"},
                              vae={**SMALL_VAE, "latent_dim": 2, "steps": 20})
    first = run(spec, source_session=str(tmp_path / "source.zarr"), target_session=str(tmp_path / "target.zarr"), seed=1, out=str(tmp_path / "a"))
    assert "cpu_s_source" in first
    # simulate a killed job: its finished parts sit in a.partial
    (tmp_path / "a").rename(tmp_path / "b.partial")
    from neurodyn.runrecord import config_hash, fingerprint

    stores = [str(tmp_path / "source.zarr"), str(tmp_path / "target.zarr")]
    (tmp_path / "b.partial" / "config-hash").write_text(config_hash(spec, 1, {s: fingerprint(s) for s in stores}))
    second = run(spec, source_session=str(tmp_path / "source.zarr"), target_session=str(tmp_path / "target.zarr"), seed=1, out=str(tmp_path / "b"))
    assert "cpu_s_source" not in second and "cpu_s_align_jsdm" not in second
    assert json.loads((tmp_path / "b" / "jsdm_n1" / "metrics.json").read_text())["test_nll_nats"] > 0


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    """Each bad input: exit 2, one stderr line naming the field, nothing half-written left behind. Through
    `neurodyn.cli.main` in process (the same code as the console script; one subprocess checks the wiring)."""
    from neurodyn import store
    from neurodyn.cli import main

    params = {"n_trials": 20, "n_bins": 6, "n_channels": 5}
    synthetic_store({**params, "domain": "source"}, 0, tmp_path / "good.zarr")
    ds = store.open_session(tmp_path / "good.zarr").load()
    store.write_session(ds.assign_coords(split=("trial", np.full(20, "holdout"))), tmp_path / "bad.zarr")

    def one_line_error(argv, *words):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and all(w in err for w in words), err

    # a source session without train trials
    one_line_error(["erdiff", "experiment", "--inputs", "source_session=" + str(tmp_path / "bad.zarr"), "target_session=" + str(tmp_path / "good.zarr"),
                    "--params", json.dumps(_experiment_params([("jsdm", 1.0)], behaviour=None, synthetic={**params, "domain": "target"})),
                    "--seed", "0", "--out", str(tmp_path / "run")], "split")
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()
    # an unknown method in the plan, a spec missing a key, a target with other bins
    synthetic_store({**params, "n_bins": 7, "domain": "target"}, 0, tmp_path / "long.zarr")
    cases = [(_experiment_params([("erdiff_v2", 1.0)], behaviour=None), "good", "plan"), ({"vae": SMALL_VAE}, "good", "plan"),
             (_experiment_params([("jsdm", 1.0)], behaviour=None, synthetic={**params, "domain": "target"}), "long", "time")]
    for spec, target, word in cases:
        one_line_error(["erdiff", "experiment", "--inputs", "source_session=" + str(tmp_path / "good.zarr"), "target_session=" + str(tmp_path / f"{target}.zarr"),
                        "--params", json.dumps(spec), "--seed", "0", "--out", str(tmp_path / "job")], word)
        assert not (tmp_path / "job").exists() and not (tmp_path / "job.partial").exists()
    proc = subprocess.run([sys.executable, "-m", "neurodyn", "erdiff", "experiment", "--inputs", "source_session=" + str(tmp_path / "good.zarr"),
                           "target_session=" + str(tmp_path / "good.zarr"), "--params", "{}", "--seed", "0", "--out", str(tmp_path / "job")],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "plan" not in proc.stdout


def test_synthetic_cli_end_to_end(tmp_path):
    """simulate -> NWB -> convert -> `neurodyn erdiff experiment` (source VAE, prior, ERDiff + JSDM) with
    NLL / KLD metrics; then the synthetic figure and table from those run records."""
    from neurodyn.cli import main

    params = {"n_trials": 60, "n_bins": 8, "n_channels": 12}
    for dom in ("source", "target"):
        synthetic_store({**params, "domain": dom}, 1, tmp_path / f"{dom}.zarr")
    spec = _experiment_params([("no_align", 1.0), ("jsdm", 1.0), ("erdiff", 1.0)], pair="syn", setting="synthetic", behaviour=None,
                              synthetic={**params, "domain": "target"}, vae={**SMALL_VAE, "latent_dim": 2})
    job = tmp_path / "syn" / "d2" / "s1"
    assert main(["erdiff", "experiment", "--inputs", "source_session=" + str(tmp_path / "source.zarr"), "target_session=" + str(tmp_path / "target.zarr"),
                 "--params", json.dumps(spec), "--seed", "1", "--out", str(job)]) == 0
    for method in ("no_align", "jsdm", "erdiff"):
        metrics = json.loads((job / f"{method}_n1" / "metrics.json").read_text())
        assert metrics["test_nll_nats"] > 0 and metrics["test_kld_nats"] >= 0
    ck = torch.load(job / "erdiff_n1" / "aligned.pt", weights_only=True)
    assert ck["test_latents"].shape[-1] == 2
    fig_spec = {"methods": ["no_align", "jsdm", "erdiff"], "pairs": {}, "available": [], "unavailable": {}, "scorecard": {}}
    runs = [str(job / f"{m}_n1") for m in fig_spec["methods"]]
    assert main(["erdiff", "synthetic", "--inputs", f"runs={runs[0]}", *runs[1:], f"sources={job / 'source'}",
                 "--params", json.dumps({**fig_spec, "sim": {**params, "domain": "target"}}),
                 "--out", f"csv={tmp_path / 't.csv'}", f"md={tmp_path / 't.md'}", f"pdf={tmp_path / 'f.pdf'}", f"png={tmp_path / 'f.png'}"]) == 0
    assert (tmp_path / "f.png").stat().st_size > 1000 and "JSDM" in (tmp_path / "t.md").read_text()


def test_demo_dag_plans_the_erdiff_run_on_the_real_pair(shared_data):
    """The demo DAG builds Table 1 from one experiment job per seed on the bundled pair, every method in each."""
    targets = ["results/tables/erdiff/table1_alignment.md", "results/figures/erdiff/fig3_synthetic.pdf",
               "results/figures/erdiff/fig2_robustness.pdf", "results/figures/erdiff/fig4_latents.pdf", "results/scorecard/erdiff.json"]
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "profiles/demo", "--config", f"mirror={shared_data}",
                           "-n", "-F", "-p", *targets], cwd=REPO, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout + proc.stderr
    jobs = sorted(set(__import__("re").findall(r"--out (results/runs/erdiff/\S+)", text)))
    assert [j for j in jobs if "/m1_bundled/d6/" in j] == [f"results/runs/erdiff/m1_bundled/d6/s{s}" for s in range(2)]
    assert any("/synthetic/d2/s0" in j for j in jobs) and any("/m1_bundled/d4/" in j for j in jobs)
    plans = __import__("re").findall(r'"plan":(\[.*?\])', text)
    assert any(all(f'"{m}"' in p for m in ("oracle", "no_align", "cycle_gan", "jsdm", "sasa", "dann", "rdammd", "daf", "erdiff_wo_s", "erdiff_wo_t",
                                               "erdiff_dsm_only", "erdiff_moment_only", "erdiff_no_prior", "erdiff")) for p in plans)
    assert not any('"oracle"' in p and '"synthetic"' in p for p in plans)  # no behaviour, no oracle
    assert "neurodyn erdiff table1" in text


def test_mmd_is_zero_on_equal_samples_and_grows_with_a_shift():
    """Multi-kernel MMD² (Gretton et al. 2012): 0 between a sample and itself, larger the further apart; its
    bandwidth is the median pairwise squared distance, taken over each pair once."""
    from neurodyn.models.erdiff.baselines.common import mmd2

    gen = torch.Generator().manual_seed(0)
    a = torch.randn(200, 3, generator=gen)
    assert abs(float(mmd2(a, a.clone()))) < 1e-6
    near, far = (float(mmd2(a, torch.randn(200, 3, generator=gen) + shift)) for shift in (0.5, 2.0))
    assert 0 < near < far
    # the reference: a direct computation with the full matrix's median
    b = torch.randn(150, 3, generator=gen) + 1.0
    joint = torch.cat([a, b])
    d2 = torch.cdist(joint, joint).pow(2)
    med = d2[d2 > 0].median()
    k = sum(torch.exp(-d2 / (2 * s * s * med)) for s in (0.25, 0.5, 1.0, 2.0, 4.0)) / 5
    ref = k[:200, :200].mean() + k[200:, 200:].mean() - 2 * k[:200, 200:].mean()
    assert torch.allclose(mmd2(a, b), ref, rtol=1e-5)


def test_rdammd_scores_a_large_set_on_a_bounded_subset():
    """The per-bin feature MMD of RDA-MMD draws at most MAX_FEATURE_ROWS rows per side (a whole session's
    train+val trials would need a kernel of GBs); training batches are below the cap and used whole."""
    from neurodyn.models.erdiff.baselines import rdammd

    small = torch.randn(100, 4)
    assert rdammd._rows(small, None) is small
    big = torch.randn(rdammd.MAX_FEATURE_ROWS + 500, 4)
    a, b = (rdammd._rows(big, torch.Generator().manual_seed(0)) for _ in range(2))
    assert a.shape == (rdammd.MAX_FEATURE_ROWS, 4) and torch.equal(a, b)  # fixed by the generator's seed
    assert len({tuple(r.tolist()) for r in a}) == rdammd.MAX_FEATURE_ROWS  # without replacement
