"""Rotating-ball generator, conv DCF path, evaluation helpers, baselines and bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neurodyn.cli import main as cli
from neurodyn.models.dcf import evaluate as ev
from neurodyn.models.dcf.data import prepare_neural, video_from_file, windows
from neurodyn.models.dcf.dmd import fit_dmd
from neurodyn.models.dcf.model import DCF
from neurodyn.simulate.rotating_ball import simulate
from neurodyn.store import make_session

BALL = dict(n_videos=3, n_frames=12, size=16, orbit_frac=0.6, radius_frac=0.3, turns_per_video=1.0, noise_sd=0.0, frame_rate_hz=10.0)


def test_rotating_ball_moves_counter_clockwise():
    rec = simulate(BALL, seed=1)
    frames = rec.observations.reshape(3, 12, 16, 16)
    assert rec.attrs["image_shape"] == [1, 16, 16] and frames.min() >= 0 and frames.max() <= 1
    ys, xs = np.mgrid[0:16, 0:16]
    m = frames[0]
    cx = (m * xs).sum((1, 2)) / m.sum((1, 2)) - 7.5
    cy = 7.5 - (m * ys).sum((1, 2)) / m.sum((1, 2))  # y up
    ang = np.unwrap(np.arctan2(cy, cx))
    assert np.all(np.diff(ang) > 0)  # counter-clockwise
    true = np.unwrap(np.arctan2(rec.latents[:12, 1], rec.latents[:12, 0]))
    assert np.allclose(np.diff(ang), np.diff(true), atol=0.1)


def test_conv_dcf_losses_run_on_images():
    cfg = dict(latent_dim=8, history=0, encoder=dict(channels=[4, 8], width=16), flows=dict(channels=[4, 8]), norm_momentum=0.1,
               dt=1.0, cfm_sigma=0.0, detach_flow_targets=False, loss_weights=dict(alpha=1.0, beta=1.0, eta=1.0), d_init=0.01)
    model = DCF.from_config(cfg, dim=16 * 16, image_shape=(1, 16, 16))
    rec = simulate(BALL, seed=0)
    seq = torch.as_tensor(windows(rec.observations.reshape(3, 12, -1), 0))
    out = model.losses(seq[:5], p=0.5, gen=torch.Generator().manual_seed(0))
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and model.A.grad is not None


def test_window_r2_and_wilcoxon_star():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((30, 20, 2))
    assert np.allclose(ev.window_r2(y, y), 1.0)
    good = ev.window_r2(y, y + 0.1 * rng.standard_normal(y.shape))
    bad = ev.window_r2(y, y + 1.0 * rng.standard_normal(y.shape))
    sig = ev.worse_than_reference(good, {"bad": bad, "same": good.copy()})
    assert sig["bad"]["worse"] and not sig["same"]["worse"]


def test_stability_is_sign_invariant():
    a = np.random.default_rng(0).standard_normal((200, 3))
    assert ev.sign_aligned_cosine(a, -a) == pytest.approx(1.0)
    assert ev.pairwise_stability([a, a * [1, -1, 1], np.random.default_rng(1).standard_normal((200, 3))])[0, 1] == pytest.approx(1.0)


def test_dmd_recovers_a_rotation():
    th = 2 * np.pi / 20
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]) * 0.99
    z = np.zeros((4, 40, 2))
    z[:, 0] = np.random.default_rng(0).standard_normal((4, 2))
    for k in range(39):
        z[:, k + 1] = z[:, k] @ rot.T
    x = z @ np.random.default_rng(1).standard_normal((2, 10))
    res = fit_dmd(x, x, {"rank": 2, "n_latents": 2})
    assert np.allclose(sorted(np.abs(np.angle(res["eigenvalues"]))), [th, th], atol=1e-6)
    assert np.abs(res["reconstruction"] - x).max() < 1e-6 * np.abs(x).max() + 1e-9


def _neural_store(name, n_trial=4, t=400):
    rng = np.random.default_rng(0)
    spikes = rng.poisson(0.05, (n_trial, t, 6)).astype(np.float32)
    spikes[:, -20:] = np.nan  # unobserved tail
    vel = np.stack([np.sin(np.linspace(0, 6, t))] * 2, -1)[None].repeat(n_trial, 0) * 200
    return make_session(name=name, spikes=spikes, bin_ms=5, time_ms=np.arange(t) * 5.0, align_event="x", source={},
                        behaviour={"hand_vel": (vel, ["x", "y"])})


DATA = dict(behaviour="hand_vel", held_in_only=True, smooth_ms=40, n_steps=50, window={"length_ms": 500, "stride_ms": 250},
            split={"test_fraction": 0.25, "test_trials": [], "seed": 0}, min_std_hz=1.0, n_directions=8, min_peak_speed=0)


def test_prepare_neural_windows_and_split_by_source_trial():
    data = prepare_neural([_neural_store("s")], DATA)
    assert data.rates.shape[1:] == (50, 6) and data.step_ms == pytest.approx(10.0)
    # windows stay inside the observed span (380 bins = 1900 ms -> starts 0, 250, ..., 1250)
    assert data.start_ms.max() + 500 <= 1900
    for t in set(data.trial):
        assert len(set(data.split[data.trial == t])) == 1
    assert (data.split == "test").sum() > 0 and (data.split == "train").sum() > 0
    assert np.all(data.counts >= -1e-9)


def test_bad_inputs_fail_with_one_line(tmp_path, capsys):
    bad = tmp_path / "frames.npy"
    np.save(bad, np.full((2, 5, 4, 4), 2.0))
    with pytest.raises(Exception) as err:
        video_from_file(bad)
    assert "[0, 1]" in str(err.value)
    with pytest.raises(Exception):
        prepare_neural([_neural_store("s")], {**DATA, "behaviour": "finger_vel"})
    with pytest.raises(Exception):
        prepare_neural([_neural_store("s")], {**DATA, "split": {"test_fraction": 0.25, "test_trials": ["nope"], "seed": 0}})
    out = tmp_path / "run"
    code = cli(["dcf", "train", "--kind", "video", "--params", json.dumps({"x": 1}), "--inputs", "frames=" + str(bad), "--seed", "0", "--device", "cpu", "--out", str(out)])
    err_text = capsys.readouterr().err.strip()
    assert code == 2 and len(err_text.splitlines()) == 1 and "frames" in err_text
    assert not out.exists()
    code = cli(["dcf", "train", "--kind", "neural", "--params", "{not json", "--inputs", "sessions=" + str(tmp_path / "none.zarr"), "--seed", "0", "--out", str(out)])
    assert code == 2 and not out.exists()


def test_tphate_frames_cap_keeps_ends_and_size():
    from neurodyn.models.dcf.embeddings import tphate_frames

    assert list(tphate_frames(3, 10, 30)) == list(range(10))  # fits: every frame
    keep = tphate_frames(789, 100, 4000)  # MC_Maze at paper size
    assert keep[0] == 0 and keep[-1] == 99 and len(keep) == 5 and 789 * len(keep) <= 4000
    assert len(tphate_frames(5000, 100, 4000)) == 2  # never fewer than the two ends


def test_tphate_above_its_cap_interpolates_the_skipped_frames():
    """Above max_frames T-PHATE embeds every k-th frame; the others are linear in time between them."""
    from neurodyn.models.dcf.embeddings import fit_tphate, tphate_frames

    rng = np.random.default_rng(0)
    t = np.linspace(0, 2 * np.pi, 20)
    seqs = np.stack([np.stack([np.cos(t + p), np.sin(t + p), 0.1 * rng.standard_normal(20)], 1) for p in rng.uniform(0, 6, 12)])
    out = fit_tphate(seqs, seqs, {"n_latents": 2, "knn": 5, "t": 5, "max_frames": 60}, seed=0)
    keep = tphate_frames(12, 20, 60)
    assert out["latents"].shape == (12, 20, 2) and len(keep) == 5 and list(out["frames_embedded"]) == list(keep)
    z = out["latents"][0]
    mid = (keep[0] + keep[1]) // 2
    frac = (mid - keep[0]) / (keep[1] - keep[0])
    np.testing.assert_allclose(z[mid], (1 - frac) * z[keep[0]] + frac * z[keep[1]], rtol=1e-6, atol=1e-9)
