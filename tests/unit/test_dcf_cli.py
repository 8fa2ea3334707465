"""The DCF command chain on a small synthetic store with held-out units: train (2 seeds) -> comparison models ->
tables + scorecard fragment -> figures. The fragment's keys must be exactly the published ones (plus extras
that the scorecard lists as such), and NLB metrics must be computed because the store has held-out units.
Also: the ball goes simulate -> NWB (observations only, no units) -> convert -> video frames unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from neurodyn.cli import main as cli
from neurodyn.store import open_session, write_session

from tests.unit.test_dcf_nlb_eval import CFG as NLB_CFG
from tests.unit.test_dcf_nlb_eval import DATA, _store

PUBLISHED = Path(__file__).resolve().parents[2] / "src/neurodyn/report/published/dcf.yaml"
REPORT = {"n_latents": 3, "ridge_alpha": 1e-3, "dcf_readout": "flowed_latents", "behaviour_label": "hand velocity",
          "caption_note": "synthetic test store", "ball_note": "no ball", "absent": {"marble": "not installable here"},
          "nlb": NLB_CFG, "ball_reference_variant": "p50", "stability_baselines": ["vae"],
          "user_video": {"mouse": {"frames": None, "latent_dim": 8}, "birdsong": {"frames": None, "latent_dim": 8}}}
SCORING = {k: REPORT[k] for k in ("n_latents", "ridge_alpha", "dcf_readout", "nlb")}  # what a neural job scores with
MODEL = {"d_init": 0.01, "norm_momentum": 0.05, "dt": 1.0, "cfm_sigma": 0.0, "detach_flow_targets": False,
         "loss_weights": {"alpha": 1.0, "beta": 1.0, "eta": 1.0}, "k_eff_fraction": 0.95,
         "ode": {"method": "rk4", "rtol": 1e-3, "atol": 1e-4, "max_num_steps": 100, "step_size": 0.25},
         "latent_dim": 6, "history": 2, "encoder": {"width": 16, "depth": 2}, "flows": {"width": 16, "depth": 2},
         "nested_dropout": {"p": 0.2, "ramp_steps": 0, "p_start": 1.0},
         "train": {"steps": 30, "batch_size": 32, "lr": 1e-3, "target_lr": 1e-2, "clip_grad": 1.0, "checkpoint_every": 0},
         "n_simulated": 0, "rmae_ks": [1], "data": DATA, "report": SCORING}
BASE = {"data": DATA, "vae": {"latent_dim": 3, "width": 16, "depth": 2, "beta": 1.0, "lr": 1e-3, "batch_size": 64, "steps": 20},
        "pca": {"n_latents": 3}, "report": SCORING}


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("dcf_chain")
    store = tmp / "synth.zarr"
    write_session(_store()[0], store)
    runs = {}
    for seed in (0, 1):
        runs[f"dcf{seed}"] = tmp / f"dcf_seed{seed}"
        assert cli(["dcf", "train", "--kind", "neural", "--params", json.dumps(MODEL), "--inputs", f"sessions={store}", "--seed", str(seed),
                    "--device", "cpu", "--out", str(runs[f"dcf{seed}"])]) == 0
        runs[f"vae{seed}"] = tmp / f"vae_seed{seed}"
        assert cli(["dcf", "baseline", "--method", "vae", "--kind", "neural", "--params", json.dumps(BASE), "--inputs", f"sessions={store}",
                    "--seed", str(seed), "--device", "cpu", "--out", str(runs[f"vae{seed}"])]) == 0
    runs["pca"] = tmp / "pca"
    assert cli(["dcf", "baseline", "--method", "pca", "--kind", "neural", "--params", json.dumps(BASE), "--inputs", f"sessions={store}",
                "--seed", "0", "--device", "cpu", "--out", str(runs["pca"])]) == 0
    card = tmp / "dcf.json"
    assert cli(["dcf", "tables", "--params", json.dumps({"data": DATA, "report": REPORT}),
                "--inputs", f"dcf={runs['dcf0']}", str(runs["dcf1"]), f"baselines={runs['vae0']}", str(runs["pca"]),
                f"baseline_seeds={runs['vae1']}", "--out", f"tables={tmp / 'tables'}", f"scorecard={card}"]) == 0
    return tmp, store, runs, json.loads(card.read_text())["rows"]


def test_fragment_keys_match_published(chain):
    _, _, _, rows = chain
    published = {r["key"] for r in yaml.safe_load(PUBLISHED.read_text())["rows"]}
    # every published row that this run can speak to is present under its exact key
    for key in ("table1.dcf.vel_r2_median", "table1.vae.vel_r2_median", "table1.marble.vel_r2_median", "table2.dcf.rate_r2_median",
                "table2.vae.rate_r2_median", "text.video.k_eff", "fig.neural_cross_seed_cosine"):
        assert key in published and key in rows, key
    assert rows["table1.dcf.vel_r2_median"]["ours"] is not None and rows["table1.dcf.vel_r2_median"]["spread"].startswith("(")
    assert rows["table1.marble.vel_r2_median"]["ours"] is None and "not installable" in rows["table1.marble.vel_r2_median"]["note"]
    assert rows["text.video.k_eff"]["ours"] is None and "not public" in rows["text.video.k_eff"]["note"]
    assert 0 <= rows["fig.neural_cross_seed_cosine"]["ours"] <= 1
    # anything else is an NLB extra (not in the paper)
    assert all(k.startswith("nlb.") for k in set(rows) - published), sorted(set(rows) - published)


def test_each_job_scores_its_own_model_and_the_tables_only_format(chain):
    """Table 1's DCF row is the median of the DCF job's own per-window decode (the same ridge decode recomputed
    here from the store and the job's latents), and the tables read no store."""
    from neurodyn.models.dcf import evaluate as ev
    from neurodyn.models.dcf.data import prepare_neural

    tmp, store, runs, rows = chain
    out = torch.load(runs["dcf0"] / "outputs.pt", weights_only=True)
    data = prepare_neural([open_session(store)], DATA)
    again = ev.decode_velocity(out["flowed_latents"].numpy(), data.velocity, data.train, data.test, n_latents=3, alpha=1e-3)
    assert np.allclose(out["scores"]["vel_r2_windows"].numpy(), again)
    assert rows["table1.dcf.vel_r2_median"]["ours"] == round(float(np.median(again)), 4)
    metrics = json.loads((runs["pca"] / "metrics.json").read_text())
    pca = torch.load(runs["pca"] / "outputs.pt", weights_only=True)["scores"]
    assert metrics["vel_r2_median"] == pytest.approx(float(np.median(pca["vel_r2_windows"].numpy())))
    assert pca["nlb"] is not None and "nlb_smoothing" not in pca  # the smoothing reference: DCF's job only


def test_a_neural_job_without_its_scoring_slice_refuses_before_training(tmp_path):
    store = tmp_path / "synth.zarr"
    write_session(_store()[0], store)
    for cmd, params in ((["dcf", "train"], {k: v for k, v in MODEL.items() if k != "report"}),
                        (["dcf", "baseline", "--method", "pca"], {k: v for k, v in BASE.items() if k != "report"})):
        out = tmp_path / cmd[1]
        assert cli([*cmd, "--kind", "neural", "--params", json.dumps(params), "--inputs", f"sessions={store}", "--seed", "0", "--device", "cpu",
                    "--out", str(out)]) == 2
        assert not out.exists() and not Path(f"{out}.partial").exists()


def test_tables_refuse_a_run_record_without_scores(chain, tmp_path):
    _, _, runs, _ = chain
    bare = tmp_path / "old_run"
    bare.mkdir()
    out = torch.load(runs["dcf0"] / "outputs.pt", weights_only=True)
    out.pop("scores")
    torch.save(out, bare / "outputs.pt")
    assert cli(["dcf", "tables", "--params", json.dumps({"data": DATA, "report": REPORT}), "--inputs", f"dcf={bare}",
                "--out", f"tables={tmp_path / 't'}", f"scorecard={tmp_path / 'c.json'}"]) == 2
    assert not (tmp_path / "c.json").exists()


def test_tables_without_the_neural_sessions_say_why(tmp_path):
    """Offline without the mirror the neural sessions cannot be built: the tables and the fragment still exist,
    every neural row empty with the reason; without sessions and without a reason the command refuses."""
    reason = "session mc_maze_trial748: no mirror configured"
    card = tmp_path / "dcf.json"
    params = json.dumps({"data": DATA, "report": REPORT, "neural_unavailable": reason})
    assert cli(["dcf", "tables", "--params", params, "--out", f"tables={tmp_path / 'tables'}", f"scorecard={card}"]) == 0
    rows = json.loads(card.read_text())["rows"]
    published = {r["key"] for r in yaml.safe_load(PUBLISHED.read_text())["rows"]}
    for key in ("table1.dcf.vel_r2_median", "table2.vae.rate_r2_median", "fig.neural_cross_seed_cosine"):
        assert key in published and rows[key]["ours"] is None and reason in rows[key]["note"], key
    assert "not installable" in rows["table1.marble.vel_r2_median"]["note"]
    for stem in ("table1_velocity_r2", "table2_rate_r2", "stability", "nlb_metrics"):
        assert reason in (tmp_path / "tables" / f"{stem}.md").read_text(), stem
    params = json.dumps({"data": DATA, "report": REPORT})
    assert cli(["dcf", "tables", "--params", params, "--out", f"tables={tmp_path / 't2'}", f"scorecard={tmp_path / 'c2.json'}"]) == 2
    assert not (tmp_path / "c2.json").exists()


def test_nlb_metrics_with_heldout_units(chain):
    tmp, _, _, rows = chain
    assert rows["nlb.smoothing.co_bps_bits_per_spike"]["ours"] > 0
    for m in ("dcf", "vae", "pca"):
        assert f"nlb.{m}.co_bps_bits_per_spike" in rows and f"nlb.{m}.vel_r2" in rows
    text = (tmp / "tables" / "nlb_metrics.md").read_text()
    assert "DCF" in text and "Not computed" not in text
    stab = (tmp / "tables" / "stability.csv").read_text()
    assert "DCF" in stab and "VAE" in stab


def test_figures_render(chain):
    tmp, store, runs, _ = chain
    params = json.dumps({"n_frames_shown": 3, "methods_shown": ["vae"], "caption_note": "synthetic", "ball_note": "none", "data": DATA,
                         "n_latents": 3, "ridge_alpha": 1e-3, "neural_note": "synthetic note"})
    for which, extra in (("neural-latents", [f"baselines={runs['vae0']}", str(runs["pca"])]),
                         ("stability", [f"baselines={runs['vae0']}", str(runs["vae1"])]), ("keff", [])):
        out = tmp / f"{which}.pdf"
        assert cli(["dcf", "figure", which, "--inputs", f"runs={runs['dcf0']}", str(runs["dcf1"]), *extra, f"sessions={store}",
                    "--params", params, "--out", f"pdf={out}", f"png={tmp / f'{which}.png'}"]) == 0
        assert out.stat().st_size > 1000 and (tmp / f"{which}.png").stat().st_size > 1000


def test_ball_converts_without_units(tmp_path):
    from neurodyn.data.convert import convert
    from neurodyn.models.dcf.data import video_from_store
    from neurodyn.simulate.nwb_writer import write_nwb
    from neurodyn.simulate.rotating_ball import simulate

    params = dict(n_videos=2, n_frames=6, size=8, orbit_frac=0.6, radius_frac=0.3, turns_per_video=1.0, noise_sd=0.0, frame_rate_hz=10.0)
    rec = simulate(params, 3)
    rec.name = "ball"
    write_nwb(rec, tmp_path / "ball.nwb", seed=3, generator="rotating-ball")
    spec = {"name": "ball", "bin_ms": 100, "kind": "simulate", "format": "nwb", "window_ms": [0, 600], "align_event": "start_time",
            "provenance": {"simulator": "rotating-ball"}}
    convert([tmp_path / "ball.nwb"], spec, tmp_path / "ball.zarr")
    ds = open_session(tmp_path / "ball.zarr")
    assert ds.sizes["unit"] == 0
    video = video_from_store(ds)
    assert video.image_shape == (1, 8, 8)
    assert np.allclose(video.frames.reshape(-1, 64), rec.observations, atol=1e-6)
    assert np.allclose(video.latents.reshape(-1, 2), rec.latents, atol=1e-6)


def test_comparison_model_registry_resolves_every_configured_model():
    """Every comparison model an experiment of config.yaml lists (dcf.*.baselines) is registered, its fitter importable."""
    from neurodyn.models.dcf import COMPARISON_MODELS, comparison_fitter

    def listed(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "baselines" and isinstance(value, list):
                    yield from value
                else:
                    yield from listed(value)

    configured = set(listed(yaml.safe_load((Path(__file__).resolve().parents[2] / "config.yaml").read_text())["dcf"]))
    assert configured and configured <= set(COMPARISON_MODELS), configured - set(COMPARISON_MODELS)
    for name in COMPARISON_MODELS:
        fitter, kind, _ = comparison_fitter(name)
        assert callable(fitter) and kind in ("sequences", "counts")
    with pytest.raises(KeyError):
        comparison_fitter("umap")
