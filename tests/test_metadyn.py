"""Meta-Dynamical SSM: generators, low-rank hypernetwork, recovery of ω by the embedding, few-shot transfer,
the mean-rate collapse check, family sessions and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from neurodyn.cli import main as cli
from neurodyn.models.metadyn import MetaDynamicalSSM
from neurodyn.models.metadyn_data import load_session, r2_pooled, session_from_recording
from neurodyn.simulate import bifurcation, limit_cycle
from neurodyn.store import write_session

MODEL = {"latent_dim": 2, "shared_dim": 16, "dyn_hidden": 64, "embed_dim": 1, "rank": 1, "hyper_hidden": 32,
         "enc_hidden": 32, "embed_kernel": 5, "init_process_std": 0.1}
FORECAST = {"context_bins": 15, "horizon_bins": 40, "smooth_sd_bins": 2.0, "collapse_margin": 0.02, "eval_fraction": 0.25}


def params(conditioning="hyper", n_steps=600, values=None, likelihood="gaussian"):
    """The demo's settings (config/demo.yaml)."""
    return {"experiment": "test", "variant": "meta", "conditioning": conditioning, "likelihood": likelihood, "device": "cpu",
            "model": MODEL, "train": {"n_steps": n_steps, "lr": 0.005, "batch_trials": 8, "kl_warmup_steps": 0,
                                      "checkpoint_every": 0, "clip_grad": 5.0},
            "forecast": FORECAST, "data": {}, "family_param": "omega" if values else None, "family_values": values,
            "fewshot": {"ks": [1, 4], "n_steps": 150, "single_steps": 400, "lr": 0.01, "batch_trials": 16, "kl_warmup_steps": 0}}


def write_lc(tmp_path, name, omega, seed, n_trials=40, n_channels=25, likelihood="gaussian", n_bins=50, **extra):
    rec = limit_cycle.simulate({"omega": omega, "n_trials": n_trials, "n_bins": n_bins, "n_channels": n_channels,
                                "likelihood": likelihood, **extra}, seed)
    rec.name = name
    return str(write_session(session_from_recording(rec), tmp_path / f"{name}.zarr"))


# -- generators -------------------------------------------------------------------------------------------------
def test_limit_cycle_speed_is_omega():
    rec = limit_cycle.simulate({"omega": 4.0, "n_trials": 20, "n_bins": 60, "process_noise": 0.0}, 3)
    z = rec.latents.reshape(20, 60, 2)
    angle = np.unwrap(np.arctan2(z[..., 1], z[..., 0]), axis=1)
    speed = np.diff(angle, axis=1).mean() / 0.02  # rad/s at 20 ms bins
    assert speed == pytest.approx(4.0, rel=0.02)
    assert np.abs(np.linalg.norm(z[:, -1], axis=1) - 1).max() < 0.05  # converged to the unit cycle
    assert rec.observations.shape == (1200, 30)
    assert list(rec.trials["split"]).count("test") == 5


def test_bifurcation_regimes():
    # a < 0: the origin attracts; a > 0, |b| < ω0: limit cycle of radius √a; |b| > ω0: the rotation stops
    noise = {"process_noise": 0.0, "n_trials": 6, "n_bins": 150}
    focus = bifurcation.simulate({"a": -0.5, "b": 0.0, **noise}, 1).latents.reshape(6, 150, 2)
    cycle = bifurcation.simulate({"a": 0.64, "b": 0.0, **noise}, 1).latents.reshape(6, 150, 2)
    snic = bifurcation.simulate({"a": 0.64, "b": 4.5, **noise}, 1).latents.reshape(6, 150, 2)
    assert np.linalg.norm(focus[:, -1], axis=1).max() < 0.05
    assert np.linalg.norm(cycle[:, -1], axis=1) == pytest.approx(np.full(6, 0.8), abs=0.03)
    assert np.abs(np.diff(np.arctan2(snic[:, -10:, 1], snic[:, -10:, 0]), axis=1)).max() < 1e-3


def test_generator_rejects_unknown_parameter():
    from neurodyn.errors import InputError

    with pytest.raises(InputError, match="omgea"):
        limit_cycle.simulate({"omgea": 2.0}, 0)


# -- model ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rank", [1, 3])
def test_hypernetwork_changes_only_rank_r(rank):
    torch.manual_seed(0)
    model = MetaDynamicalSSM(n_channels=[10], likelihood="gaussian", latent_dim=4, shared_dim=8, dyn_hidden=32,
                             embed_dim=2, rank=rank, hyper_hidden=16, enc_hidden=8, conditioning="hyper")
    with torch.no_grad():
        for p in model.dynamics.hyper.parameters():
            p.normal_()
    e = torch.randn(5, 2)
    for delta in model.dynamics.delta_weights(e):
        s = torch.linalg.svdvals(delta)  # (5, min(out, in))
        assert (s[:, :rank] > 1e-3).all()
        assert (s[:, rank:] < 1e-4 * s[:, :1]).all()
    # the dynamics equal the base MLP plus exactly that low-rank change
    z = torch.randn(5, 4)
    base = z + model.dynamics.layer2(torch.tanh(model.dynamics.layer1(z)))
    d1, d2 = model.dynamics.delta_weights(e)
    h = torch.tanh(model.dynamics.layer1(z) + (d1 @ z[..., None])[..., 0])
    manual = z + model.dynamics.layer2(h) + (d2 @ h[..., None])[..., 0]
    assert torch.allclose(model.dynamics(z[:, None], model.dynamics.prepare(e))[:, 0], manual, atol=1e-5)
    assert not torch.allclose(manual, base)


def test_r2_pooled_known_answers():
    y = np.random.default_rng(0).normal(size=(4, 10, 3))
    assert r2_pooled(y, y) == 1.0
    assert r2_pooled(y, np.broadcast_to(y.reshape(-1, 3).mean(0), y.shape)) == pytest.approx(0.0, abs=1e-12)


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    """Six limit cycles (ω = 2 … 7 rad/s), held-out recordings, and one meta model trained on the six at the demo's
    settings (600 steps of 8 trials per dataset; ~17 s on one thread).

    Held out: ω = 3.5 observed like the pool (noise sd 0.1), and ω = 2.5 and 3.5 through a noisier read-out
    (sd 0.3) — a new recording whose few trials alone do not pin its dynamics down."""
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("metadyn")
    omegas = [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    stores = [write_lc(tmp, f"lc{i}", w, 100 + i, n_trials=48, n_bins=60, n_channels=20 + 5 * (i % 3)) for i, w in enumerate(omegas)]
    heldout = write_lc(tmp, "held", 3.5, 99, n_trials=36, n_bins=60, n_channels=23)
    noisy = [write_lc(tmp, f"noisy{j}", w, 200 + j, n_trials=36, n_bins=60, n_channels=23, obs_noise=0.3)
             for j, w in enumerate([3.5, 2.5])]
    run = tmp / "run"
    code = cli(["metadyn", "train", "--inputs", f"sessions={stores[0]}", *map(str, stores[1:]), "--params", json.dumps(params(values=omegas)), "--seed", "0",
                "--out", str(run)])
    assert code == 0
    return {"tmp": tmp, "run": run, "heldout": heldout, "noisy": noisy, "omegas": omegas,
            "metrics": json.loads((run / "metrics.json").read_text()),
            "embeddings": json.loads((run / "embeddings.json").read_text())["embeddings"]}


def transfer(family, variant, targets):
    out = family["tmp"] / f"fs_{variant}"
    args = ["metadyn", "transfer", "--inputs", f"targets={targets[0]}", *map(str, targets[1:]),
            *([f"pretrained={family['run']}"] if variant != "single" else []),
            "--params", json.dumps(dict(params(), variant=variant)), "--seed", "1", "--out", str(out)]
    assert cli(args) == 0
    return out, json.loads((out / "metrics.json").read_text())


def test_embedding_orders_omega(family):
    m = family["metrics"]
    # the learned speeds follow ω, e orders the datasets by ω, and the dynamics forecast every dataset
    assert m["learned_speed_spearman_omega"] >= 0.9
    assert abs(m["embedding_spearman_omega"]) >= 0.9
    assert min(m[f"lc{i}.forecast_r2"] for i in range(6)) > 0.5
    assert m["collapsed_datasets"] == 0


def test_fewshot_meta_beats_single_dataset_model(family):
    out, meta = transfer(family, "meta", [family["heldout"], *family["noisy"]])
    _, single = transfer(family, "single", family["noisy"])
    # e inferred from k = 1 and 4 trials of ω = 3.5 reads out its speed on the pretraining embeddings' manifold
    # (linear interpolation of ω over them) to within one pretraining step (1 rad/s). On the machine this was
    # written on it fell between e(ω=3) and e(ω=4) for k = 4; on another CPU the same seed trains to a slightly
    # different optimum and it lands at ω ≈ 4.2, so the bracket of the two nearest speeds was too tight a claim.
    held = json.loads((out / "embeddings.json").read_text())["held"]
    pool = sorted((family["embeddings"][f"lc{i}"]["mean"][0], w) for i, w in enumerate(family["omegas"]))
    assert all(a[1] < b[1] for a, b in zip(pool, pool[1:])) or all(a[1] > b[1] for a, b in zip(pool, pool[1:]))
    for k in ("1", "4"):
        omega_hat = float(np.interp(held[k][0], [e for e, _ in pool], [w for _, w in pool]))
        assert abs(omega_hat - 3.5) < 1.0, (k, omega_hat)
    # fitting only the read-in/readout, the pretrained dynamics forecast the unseen speed 40 bins ahead
    assert meta["held.k4.forecast_r2"] > 0.8
    assert meta["held.k1.forecast_r2"] > 0.5
    # the paper's few-shot claim: on a held-out recording with few trials the meta model forecasts better than a
    # model trained on those trials alone (pretraining seeds 0–2 while this test was written: mean margin over
    # both recordings and k = 1, 4 of 0.21–0.62; at k = 1 the single-dataset model fails outright)
    r2 = {v: {k: np.mean([m[f"noisy{j}.k{k}.forecast_r2"] for j in range(2)]) for k in (1, 4)} for v, m in (("meta", meta), ("single", single))}
    assert r2["meta"][1] > r2["single"][1] + 0.1
    assert np.mean(list(r2["meta"].values())) > np.mean(list(r2["single"].values())) + 0.1
    assert meta["collapsed_fits"] == 0


def test_transfer_starts_in_the_pretrained_shared_space():
    """init_transfer puts a new dataset's read-in output on the recorded shared plane (mean and spread)."""
    torch.manual_seed(0)
    model = MetaDynamicalSSM(n_channels=[12, 9], likelihood="gaussian", **MODEL, conditioning="hyper")
    with torch.no_grad():
        for readin in model.readins:
            readin.weight.normal_()
    model.record_shared_space([(0, torch.randn(8, 30, 12)), (1, torch.randn(5, 21, 9))])  # trial lengths differ
    mean, basis = model.shared_mean.clone(), model.shared_basis.clone()
    assert basis.abs().sum() > 0
    rng = np.random.default_rng(1)
    latents = rng.normal(size=(6, 30, 2)) * np.array([3.0, 0.5])
    y_new = torch.as_tensor(latents @ rng.normal(size=(2, 17)) + 5.0, dtype=torch.float32)
    d = model.add_dataset(17)
    model.init_transfer(d, y_new)
    x = model.read_in(d, y_new).detach().reshape(-1, MODEL["shared_dim"])
    assert torch.allclose(x.mean(0), mean, atol=1e-3)
    cov = torch.cov((x - mean).T)
    assert torch.allclose(cov, basis.T @ basis, atol=1e-3 * float(basis.norm() ** 2))
    # the readout then starts as the least-squares map from the inferred latents back to the data
    z = model.smooth(d, y_new, torch.full((6,), 30), model.embedding_posterior(d, y_new, torch.full((6,), 30))[0])
    design = np.concatenate([z.reshape(-1, 2).numpy(), np.ones((180, 1))], 1)
    beta = np.linalg.lstsq(design, y_new.reshape(-1, 17).numpy(), rcond=None)[0]
    np.testing.assert_allclose(model.readouts[d].weight.detach().numpy(), beta[:2].T, rtol=0.02, atol=0.02)
    np.testing.assert_allclose(model.readouts[d].bias.detach().numpy(), beta[2], rtol=0.02, atol=0.02)


def test_checkpoint_without_shared_space_record_still_transfers():
    """A checkpoint from before the shared-space record loads (strictly otherwise) and transfers from the principal
    start; a checkpoint of another architecture is still refused."""
    model = MetaDynamicalSSM(n_channels=[12], likelihood="gaussian", **MODEL, conditioning="hyper")
    old = {k: v for k, v in model.state_dict().items() if not k.startswith("shared_")}
    fresh = MetaDynamicalSSM(n_channels=[12], likelihood="gaussian", **MODEL, conditioning="hyper")
    fresh.load_pretrained(old)
    d = fresh.add_dataset(7)
    y = torch.randn(3, 20, 7)
    fresh.init_transfer(d, y)
    assert torch.isfinite(fresh.readins[d].weight).all()
    with pytest.raises(RuntimeError, match="Unexpected|Missing|size mismatch"):
        fresh.load_pretrained({**old, "dynamics.layer1.weight": torch.zeros(3, 3)})


def test_poisson_glm_recovers_known_coefficients():
    from neurodyn.metrics.glm import poisson_glm_newton as poisson_glm

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4000, 2, generator=gen, dtype=torch.float64)
    design = torch.cat([x, torch.ones(4000, 1, dtype=torch.float64)], 1)
    beta = torch.tensor([[0.5, -0.3, 0.0], [0.2, 0.4, -0.6], [0.0, 1.0, -1.0]], dtype=torch.float64)  # (p, N)
    counts = torch.poisson(torch.exp(design @ beta), generator=gen)
    fit = poisson_glm(design, counts)
    assert torch.allclose(fit, beta, atol=0.06)
    silent = poisson_glm(design[:50], torch.zeros(50, 1, dtype=torch.float64))  # a unit that never fired
    assert torch.isfinite(silent).all() and silent[-1, 0] < -10 and silent[:-1].abs().max() < 1e-3


def test_collapse_is_detected(tmp_path):
    """A model whose readout ignores the latents (constant mean rate) on low-rate Poisson data is flagged."""
    from neurodyn.models.metadyn import build_model
    from neurodyn.metadyn.jobs import evaluate_dataset

    store = write_lc(tmp_path, "lowrate", 3.0, 5, likelihood="poisson", base_rate_hz=2.0)
    data = load_session(store, likelihood="poisson")
    model = build_model(MODEL, [data.y.shape[-1]], "poisson", "hyper")
    with torch.no_grad():
        model.readouts[0].weight.zero_()
        model.readouts[0].bias.copy_(torch.log(torch.as_tensor(data.y[:30].mean((0, 1))) + 1e-6))
    ev = evaluate_dataset(model, 0, data, embed_trials=np.arange(30), eval_trials=np.arange(30, 40), forecast=FORECAST,
                          device=torch.device("cpu"))
    assert ev["collapsed"] == 1.0
    assert ev["recon_r2"] <= ev["mean_rate_r2"] + 1e-6


# -- config, families and bad input ------------------------------------------------------------------------------
def test_family_sessions_are_configured_sessions():
    from neurodyn import config as ndc
    from neurodyn.data.sources import SessionSources

    from tests.conftest import REPO

    cfg = ndc.load(REPO / "config.yaml", REPO / "config" / "demo.yaml")
    src = SessionSources(cfg)
    assert src.simulation("lc_pool_05")["params"]["omega"] == 6.0
    assert src.convert_spec("lc_heldout_01")["provenance"]["params"]["omega"] == 4.6
    full = ndc.load(REPO / "config.yaml")
    assert len([s for s in SessionSources(full).sessions if s.startswith("lc_pool_")]) == 20


def test_family_lists_must_match():
    from neurodyn.data.families import family_members
    from neurodyn.errors import InputError

    with pytest.raises(InputError, match="equal length"):
        family_members("f", {"generator": "limit_cycle", "bin_ms": 20, "params": {}, "vary": {"omega": [1, 2], "n_channels": [3]}})


def _run_cli(args):
    return subprocess.run([sys.executable, "-m", "neurodyn", *args], capture_output=True, text=True)


def test_bad_inputs_one_line_nothing_left(tmp_path):
    poisson_only = write_lc(tmp_path, "spk", 3.0, 1, likelihood="poisson", n_trials=8)
    out = tmp_path / "run"
    r = _run_cli(["metadyn", "train", "--inputs", f"sessions={poisson_only}", "--params", json.dumps(params(n_steps=2)), "--seed", "0",
                  "--out", str(out)])
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "observations" in r.stderr
    assert not out.exists() and not (tmp_path / "run.partial").exists()
    r = _run_cli(["metadyn", "train", "--inputs", f"sessions={poisson_only}", "--params", "{not json", "--seed", "0", "--out", str(out)])
    assert r.returncode == 2 and "JSON" in r.stderr
    r = _run_cli(["metadyn", "transfer", "--inputs", f"targets={poisson_only}", "--params", json.dumps(params()), "--seed", "0",
                  "--out", str(out)])
    assert r.returncode == 2 and "pretrained" in r.stderr
    assert not out.exists()


def test_config_rejects_unknown_metadyn_key():
    from neurodyn import config as ndc
    from neurodyn.errors import InputError

    from tests.conftest import REPO

    cfg = ndc.load(REPO / "config.yaml")
    cfg["metadyn"]["model"]["rnak"] = 2
    with pytest.raises(InputError, match="metadyn.model.rnak"):
        ndc.validate(cfg)


def _store_with_position(tmp_path, n_bins):
    """Counts plus a hand position moving at 3 units/s on axis x and −2 on y (10 ms bins)."""
    from neurodyn.store import make_session

    t = np.arange(n_bins) * 0.01
    pos = np.stack([3.0 * t, 5.0 - 2.0 * t], -1)[None].repeat(4, 0)  # (trial, time, axis)
    ds = make_session(name="reach", spikes=np.ones((4, n_bins, 3)), bin_ms=10.0, time_ms=np.arange(n_bins) * 10.0,
                      align_event="move_onset_time", source={"test": True}, behaviour={"hand_pos": (pos, ["x", "y"])})
    return write_session(ds, tmp_path / f"reach{n_bins}.zarr")


def test_behaviour_derivative_is_velocity(tmp_path):
    from neurodyn.errors import InputError

    store = _store_with_position(tmp_path, 12)
    data = load_session(store, likelihood="poisson", bin_ms=20, behaviour="hand_pos", behaviour_derivative=True)
    np.testing.assert_allclose(data.behaviour[..., 0], 3.0, rtol=1e-4)  # units per second, after rebinning
    np.testing.assert_allclose(data.behaviour[..., 1], -2.0, rtol=1e-4)
    plain = load_session(store, likelihood="poisson", behaviour="hand_pos")
    assert plain.behaviour[0, 1, 0] == pytest.approx(0.03)
    with pytest.raises(InputError, match="hand_pos.*2 time bins"):
        load_session(_store_with_position(tmp_path, 1), likelihood="poisson", behaviour="hand_pos", behaviour_derivative=True)


@pytest.mark.parametrize("conditioning,variant", [("input", "input"), ("none", "shared")])
def test_baseline_variants_train_and_transfer(tmp_path, conditioning, variant):
    """The embedding-as-input and no-embedding baselines run through the same train → transfer path; only the
    input variant's dynamics depend on e."""
    stores = [write_lc(tmp_path, f"b{i}", w, 10 + i, n_trials=12, n_bins=40) for i, w in enumerate([2.0, 5.0])]
    target = write_lc(tmp_path, "t", 3.0, 20, n_trials=12, n_bins=40, n_channels=18)
    p = dict(params(conditioning=conditioning, n_steps=20), variant=variant)
    p["fewshot"] = dict(p["fewshot"], ks=[1, 4], n_steps=10)
    assert cli(["metadyn", "train", "--inputs", f"sessions={stores[0]}", *map(str, stores[1:]), "--params", json.dumps(p), "--seed", "0", "--out", str(tmp_path / "run")]) == 0
    assert cli(["metadyn", "transfer", "--inputs", f"targets={target}", f"pretrained={tmp_path / 'run'}", "--params", json.dumps(p),
                "--seed", "0", "--out", str(tmp_path / "fs")]) == 0
    m = json.loads((tmp_path / "fs" / "metrics.json").read_text())
    assert all(np.isfinite(m[f"t.k{k}.{key}"]) for k in (1, 4) for key in ("recon_r2", "forecast_r2"))
    from neurodyn.metadyn.figures import _load_model

    model, _, _ = _load_model(str(tmp_path / "run"))
    assert model.conditioning == conditioning
    z = torch.randn(4, 1, 2)
    if conditioning == "input":
        a, b = (model.dynamics(z, model.dynamics.prepare(torch.full((4, 1), v))) for v in (-2.0, 2.0))
        assert not torch.allclose(a, b)
    else:
        assert model.embed_dim == 0
