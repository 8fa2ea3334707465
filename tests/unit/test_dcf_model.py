"""DCF on a known system: a 2-D limit cycle embedded linearly in 50 dimensions (docs/papers.md §1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodyn.models.dcf.model import DCF, effective_dimension, truncated_geometric
from neurodyn.dcf.jobs import readouts, train_dcf

CFG = dict(
    latent_dim=50, history=2, encoder=dict(width=64, depth=3), flows=dict(width=128, depth=3), norm_momentum=0.05,
    dt=1.0, cfm_sigma=0.0, detach_flow_targets=False, loss_weights=dict(alpha=1.0, beta=1.0, eta=1.0), d_init=0.01,
    train=dict(steps=1000, batch_size=128, lr=2e-3, target_lr=3e-2, checkpoint_every=0, clip_grad=1.0),
    nested_dropout=dict(p=0.3, ramp_steps=0, p_start=1.0),
    ode=dict(method="dopri5", rtol=1e-3, atol=1e-4, max_num_steps=500, step_size=0.1),
)


def limit_cycle(n=16, t=60, dim=50, seed=0, noise=0.02):
    """Trajectories of r' = 2 r (1 − r²), θ' = 2π/30 per step, mapped to R^50 by an orthogonal map with
    unequal gains (3 and 1.5) so that one latent direction carries more variance than the other."""
    rng = np.random.default_rng(seed)
    z = np.zeros((n, t, 2))
    for i in range(n):
        r, th = rng.uniform(0.5, 1.5), rng.uniform(0, 2 * np.pi)
        for k in range(t):
            z[i, k] = r * np.cos(th), r * np.sin(th)
            r, th = r + 0.2 * r * (1 - r * r), th + 2 * np.pi / 30
    w = np.linalg.qr(rng.standard_normal((dim, 2)))[0] * np.array([3.0, 1.5])
    x = z @ w.T + noise * rng.standard_normal((n, t, dim))
    return x.astype(np.float32), z


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    x, z = limit_cycle()
    model, history = train_dcf(x, CFG, seed=0)
    out = readouts(model, x, CFG, "cpu", sim_index=np.arange(4))
    return model, history, out, x, z


def test_qr_loading_is_orthonormal():
    model = DCF.from_config(CFG, dim=20)
    with torch.no_grad():
        model.A.add_(torch.randn_like(model.A))  # any free matrix
    L = model.loading()
    assert torch.allclose(L.T @ L, torch.eye(L.shape[1]), atol=1e-5)


def test_truncated_geometric_mean_and_support():
    gen = torch.Generator().manual_seed(0)
    k = truncated_geometric(20000, 0.1, 1000, gen)
    assert k.min() >= 1 and abs(k.float().mean().item() - 10.0) < 0.5  # E[K] = 1/p when truncation is far
    k = truncated_geometric(5000, 0.02, 8, gen)
    assert k.max() <= 8 and k.min() >= 1
    assert (truncated_geometric(10, 1.0, 8, gen) == 1).all()


def test_effective_dimension_definition():
    assert effective_dimension(torch.tensor([5.0, 4.0, 0.1, 0.1, 0.1])) == 2
    assert effective_dimension(torch.ones(10)) == 10


def test_flow_matching_losses_fall(trained):
    _model, history, *_ = trained
    for key in ("cf", "df", "align"):
        first = np.mean([h[key] for h in history[:20]])
        last = np.mean([h[key] for h in history[-20:]])
        assert last < 0.5 * first, (key, first, last)


def test_k_eff_is_two_and_latents_are_ordered(trained):
    model, _h, out, x, _z = trained
    assert model.k_eff(0.95) == 2
    d = model.scales().detach().numpy()
    assert d[0] > d[1] > 5 * d[2:].max()
    # nested dropout orders latents: the first alone explains the most variance of the data
    mu = model.encoder_latents(torch.as_tensor(x.reshape(-1, x.shape[-1])))
    xx = x.reshape(-1, x.shape[-1])
    tot = ((xx - xx.mean(0)) ** 2).sum()
    explained = []
    for i in range(4):
        mask = torch.zeros(model.latent_dim)
        mask[i] = 1
        rec = model.target(mu, mask).detach().numpy()
        explained.append(1 - ((xx - rec - (xx - rec).mean(0)) ** 2).sum() / tot)
    assert explained[0] > explained[1] > max(explained[2:]) + 0.1


def test_flowed_latents_recover_a_closed_loop(trained):
    _model, _h, out, _x, z = trained
    lat = out["flowed_latents"].numpy()[:, :, :2]
    from sklearn.linear_model import LinearRegression

    flat, zf = lat.reshape(-1, 2), z.reshape(-1, 2)
    assert LinearRegression().fit(flat, zf).score(flat, zf) > 0.95
    sim = out["simulated_latents"].numpy()[:, :, :2]
    # after the transient, one period (30 steps) later the simulated state is back where it was
    late = sim[:, 25:30]
    again = sim[:, 55:60]
    diameter = np.ptp(sim[:, 25:], axis=1).max()
    assert np.abs(again - late).max() < 0.2 * diameter


def test_rollouts_stay_on_the_data_manifold(trained):
    _model, _h, out, x, _z = trained
    from scipy.spatial import cKDTree

    data = x.reshape(-1, x.shape[-1])
    dist, _ = cKDTree(data).query(out["simulated_x1"].numpy().reshape(-1, data.shape[1]))
    scale = np.linalg.norm(data - data.mean(0), axis=1).mean()
    assert np.median(dist) < 0.2 * scale
    # and a random point at the same distance from the centre is far off the loop (the check can fail)
    rng = np.random.default_rng(0)
    rand = data.mean(0) + scale * rng.standard_normal(data.shape[1]) / np.sqrt(data.shape[1])
    assert cKDTree(data).query(rand)[0] > 0.5 * scale


def test_chunked_flow_equals_one_solve(trained):
    """flow_chunks splits rows only to bound memory: per row it solves the same ODE as one solve over all rows
    (adaptive steps differ per chunk, so equal to the solver's tolerance, not bit for bit)."""
    model = trained[0]
    x = torch.as_tensor(limit_cycle(n=3, seed=5)[0].reshape(-1, 50))
    whole = model.flow(x, 1.0, 0.0, CFG["ode"])
    chunked = model.flow_chunks(x, 1.0, 0.0, CFG["ode"], chunk=37)
    assert chunked.shape == whole.shape
    assert torch.allclose(chunked, whole, atol=5e-3, rtol=5e-3)
    assert model.flow_chunks(x[:0], 1.0, 0.0, CFG["ode"]).shape == (0, 50)
