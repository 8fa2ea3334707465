"""DCF's jobs (Dynamic Compression Flows): DCF itself, and every comparison model on the same data.

- ``train``: Train DCF (coupled compressive and dynamical flows) on neural data or video and write its run record.
- ``baseline``: Fit one of DCF's comparison models (VAE, LFADS, DMD, CEBRA, T-PHATE, PCA) and write its run record.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from neurodyn.errors import InputError
from neurodyn.loop import fit
from neurodyn.models.dcf import COMPARISON_MODELS, comparison_fitter
from neurodyn.models.dcf.data import NeuralData, VideoData, prepare_neural, video_from_file, video_from_store, windows
from neurodyn.models.dcf.model import DCF, nested_dropout_p
from neurodyn.runrecord import RunRecord
from neurodyn.store import open_session
from neurodyn.utils.device import describe, pick_device
from neurodyn.utils.seed import derive_seed, seed_everything
from neurodyn.utils.jobargs import add_job_arguments, parse_job_args


TRAIN_DOC = """Train DCF (coupled compressive and dynamical flows) on neural data or video and write its run record.

``neurodyn dcf train --params JSON --kind neural|video (--sessions S.zarr ... | --frames F.npz) --seed N --out DIR``

The run record holds ``model.pt`` (state_dict), ``outputs.pt`` (latents and reconstructions the figures read;
for neural data also ``scores``: the model's per-window Table 1-2 R² and its NLB metrics, computed here so the
tables only format them) and metrics (final losses, K_eff, rMAE, score medians). Params: the ``dcf.model`` slice
merged with the experiment's slice, and for neural data ``report`` (the dcf.report fields it scores with; see
workflow/schemas/dcf.schema.yaml)."""


def train_dcf(
    series: np.ndarray,
    cfg: Mapping[str, Any],
    *,
    seed: int,
    record: RunRecord | None = None,
    device: torch.device | str = "cpu",
    image_shape: tuple[int, int, int] | None = None,
    label: str = "dcf",
) -> tuple[DCF, list[dict[str, float]]]:
    """Fit DCF to sequences ``series`` (n, T, D) (already normalised). Returns the model (eval mode) and the
    loss history."""
    seed_everything(seed)
    device = torch.device(device)
    data = torch.as_tensor(windows(series.astype(np.float32), int(cfg["history"])), device=device)
    model = DCF.from_config(cfg, dim=series.shape[-1], image_shape=image_shape).to(device)
    tr = cfg["train"]
    # the compression target (b, L, D) gets its own learning rate: its scales d_i must travel orders of
    # magnitude (to ~0 for unused dimensions), which Adam's ~lr-per-step moves make slow at the nets' rate
    target = [model.b, model.A, model.d_raw]
    nets = [p for n, p in model.named_parameters() if n not in ("b", "A", "d_raw")]
    opt = torch.optim.Adam([{"params": nets, "lr": float(tr["lr"])}, {"params": target, "lr": float(tr["target_lr"])}])
    nd = cfg["nested_dropout"]
    bsz = min(int(tr["batch_size"]), len(data))

    def step_fn(step: int, gen: torch.Generator):
        idx = torch.randint(len(data), (bsz,), generator=gen).to(device)
        p = nested_dropout_p(step, p=float(nd["p"]), ramp_steps=int(nd["ramp_steps"]), p_start=float(nd["p_start"]))
        return model.losses(data[idx], p=p, gen=gen)

    result = fit(
        modules={"dcf": model}, optimizer=opt, step_fn=step_fn, n_steps=int(tr["steps"]), record=record,
        seed=derive_seed(seed, "dcf-batches"), label=label, checkpoint_every=int(tr["checkpoint_every"]),
        clip_grad=float(tr["clip_grad"]) if tr["clip_grad"] else None,
    )
    return model, result.history


def rmae_curve(model: DCF, frames: torch.Tensor, ks: list[int], ode: Mapping[str, Any]) -> dict[str, list[float]]:
    """Relative MAE Σ|x̂ − x| / Σ|x| of reconstructions from the first K latents, for each K in ``ks``:
    "encoder" decodes linearly, x̂ = x^(0,K) = b + L D^{1/2} (m_K ⊙ μ); "flow" carries x^(0,K) back to τ = 1
    with the generative (reverse compressive) flow. frames: (N, D)."""
    out: dict[str, list[float]] = {"k": [], "encoder": [], "flow": []}
    with torch.no_grad():
        mu = model.encoder_latents(frames)
        denom = frames.abs().sum()
        for k in ks:
            mask = (torch.arange(model.latent_dim, device=frames.device) < k).float()
            x0k = model.target(mu, mask)
            out["k"].append(int(k))
            out["encoder"].append(float((x0k - frames).abs().sum() / denom))
            out["flow"].append(float((model.flow_chunks(x0k, 0.0, 1.0, ode) - frames).abs().sum() / denom))
    return out


def readouts(model: DCF, series: np.ndarray, cfg: Mapping[str, Any], device, sim_index: np.ndarray) -> dict[str, Any]:
    """Latents and reconstructions of every sequence. series: (n, T, D); sim_index: which sequences to simulate."""
    ode = cfg["ode"]
    n, t, d = series.shape
    x1 = torch.as_tensor(series.reshape(n * t, d), device=device)
    with torch.no_grad():
        enc = model.encoder_latents(x1)
        x0 = model.flowed(x1, ode)
        flowed = model.latents_from_x0(x0)
        recon = model.flow_chunks(x0, 0.0, 1.0, ode)  # compress then generate: the round trip of Table 2
        seeds = torch.as_tensor(series[sim_index, : model.history + 1], device=device)
        sim0 = model.simulate(seeds, t, ode, tau=0.0) if len(sim_index) else torch.zeros(0, t, d, device=device)
        sim_lat = model.latents_from_x0(sim0)
        sim1 = model.flow_chunks(sim0.reshape(-1, d), 0.0, 1.0, ode).reshape(sim0.shape)
    return {
        "encoder_latents": enc.reshape(n, t, -1).cpu(),
        "flowed_latents": flowed.reshape(n, t, -1).cpu(),
        "flowed_x0": x0.reshape(n, t, d).cpu(),
        "reconstruction": recon.reshape(n, t, d).cpu(),
        "simulated_index": torch.as_tensor(sim_index),
        "simulated_latents": sim_lat.cpu(),
        "simulated_x1": sim1.cpu(),
        "scales": model.scales().detach().cpu(),
    }


def require_report(cfg: dict[str, Any]) -> None:
    """A neural job scores its own model: its params carry the dcf.report fields it scores with (checked before training)."""
    from neurodyn.dcf.plan import SCORE_KEYS

    missing = [k for k in SCORE_KEYS if k not in (cfg.get("report") or {})]
    if missing:
        raise InputError("--params", f"report.{missing[0]}", f"the dcf.report fields a neural job scores with ({', '.join(SCORE_KEYS)})")


def neural_scores(name: str, latents: np.ndarray, reconstruction_hz: np.ndarray | None, data: NeuralData, stores, cfg: dict[str, Any],
                  metrics: dict[str, Any], *, reference: bool = False) -> dict[str, Any]:
    """The model's Table 1-2 and NLB scores (``neurodyn.models.dcf.evaluate.score_neural`` with ``cfg["report"]``),
    as tensors for outputs.pt; their medians and NLB metrics are added to ``metrics``."""
    from neurodyn.models.dcf import evaluate as ev

    scores = ev.score_neural(name, latents, reconstruction_hz, data, stores, cfg["report"], cfg["data"], reference=reference)
    scores["test_index"] = torch.as_tensor(scores["test_index"], dtype=torch.int64)
    for key in ("vel_r2_windows", "rate_r2_windows"):
        if scores[key] is not None:
            metrics[key.replace("_windows", "_median")] = float(np.median(scores[key]))
            scores[key] = torch.as_tensor(np.asarray(scores[key], np.float64))
    metrics.update({f"nlb_{k}": v for k, v in (scores["nlb"] or {}).items()})
    return scores


def train(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn dcf train", description=TRAIN_DOC.splitlines()[0])
    parser.add_argument("--kind", choices=["neural", "video"], required=True)
    add_job_arguments(parser, inputs={"sessions": "*", "frames": "?"}, params="the DCF config slice (model + experiment) as JSON",
                      out_help="the run record (sessions: stores; frames: a user-supplied .npy/.npz, video kind)")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--device", default="auto")
    args = parse_job_args(parser, argv)
    cfg, sessions, frames = args.params, args.inputs["sessions"], args.inputs["frames"]
    if args.kind == "neural":
        require_report(cfg)
    device = pick_device(args.device)
    record = RunRecord(args.out, cfg, args.seed, device=describe(device), inputs=[*sessions, *([frames] if frames else [])])
    stores = [open_session(p) for p in sessions]
    metrics: dict[str, Any] = {}
    if args.kind == "neural":
        data: NeuralData = prepare_neural(stores, cfg["data"])
        series = data.z().astype(np.float32)
        model, history = train_dcf(series[data.train], cfg, seed=args.seed, record=record, device=device, label="dcf-neural")
        out = readouts(model, series, cfg, device, sim_index=data.test)
        out["reconstruction_hz"] = torch.as_tensor(data.unz(out["reconstruction"].numpy()))
        metrics["n_train_windows"] = int(len(data.train))
        metrics["n_test_windows"] = int(len(data.test))
        readout = out[cfg["report"]["dcf_readout"]].numpy()
        out["scores"] = neural_scores("dcf", readout, out["reconstruction_hz"].numpy(), data, stores, cfg, metrics, reference=True)
    else:
        video: VideoData = video_from_file(frames) if frames else video_from_store(stores[0])
        series = video.frames
        model, history = train_dcf(series, cfg, seed=args.seed, record=record, device=device, image_shape=video.image_shape, label="dcf-video")
        n_sim = min(int(cfg["n_simulated"]), len(series))
        out = readouts(model, series, cfg, device, sim_index=np.arange(n_sim))
        frames = torch.as_tensor(series.reshape(-1, series.shape[-1]), device=device)
        curve = rmae_curve(model, frames, [k for k in cfg["rmae_ks"] if k <= model.latent_dim], cfg["ode"])
        out["rmae"] = curve
        out["image_shape"] = list(video.image_shape)
        out["frames"] = torch.as_tensor(series[:1])
        if video.latents is not None:
            out["true_latents"] = torch.as_tensor(video.latents)
        for k, e, f in zip(curve["k"], curve["encoder"], curve["flow"]):
            metrics[f"rmae_encoder_k{k}"] = e
            metrics[f"rmae_flow_k{k}"] = f
    metrics["k_eff"] = model.k_eff(float(cfg["k_eff_fraction"]))
    for key in ("loss", "cf", "df", "align"):
        first = np.mean([h[key] for h in history[:10]])
        last = np.mean([h[key] for h in history[-10:]])
        metrics[f"{key}_first10"], metrics[f"{key}_last10"] = float(first), float(last)
    record.save_torch("model.pt", model.state_dict())
    record.save_torch("outputs.pt", out)
    record.finish(metrics)
    return 0


BASELINE_DOC = """Fit one of DCF's comparison models (VAE, LFADS, DMD, CEBRA, T-PHATE, PCA) and write its run record.

``neurodyn dcf baseline --method M --kind neural|video --params JSON --sessions S.zarr ... --seed N --out DIR``

Same data preparation and split as ``neurodyn dcf train``; ``outputs.pt`` holds the 3-D latents of every
sequence, for models that reconstruct the firing rates (spikes/s) of every window, and for neural data the
model's ``scores`` (Table 1-2 per window, NLB metrics; params ``report`` as for ``neurodyn dcf train``)."""


METHODS = tuple(COMPARISON_MODELS)


def run_method(method: str, train: np.ndarray, everything: np.ndarray, cfg: dict[str, Any], *, seed: int, device,
               train_counts: np.ndarray | None = None, all_counts: np.ndarray | None = None) -> dict[str, Any]:
    """Fit comparison model ``method`` (``neurodyn.models.dcf.COMPARISON_MODELS``). Sequences (n, T, D) are the
    normalised data DCF sees; count models get the spike counts instead."""
    fitter, kind, on_device = comparison_fitter(method)
    if kind == "counts":
        if train_counts is None:
            raise InputError("dcf.baselines", method, f"spike counts ({method} is a model of neural data, not video)")
        train, everything = train_counts, all_counts
    return fitter(train, everything, cfg[method], seed=seed, **({"device": device} if on_device else {}))


def baseline(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn dcf baseline", description=BASELINE_DOC.splitlines()[0])
    parser.add_argument("--method", choices=METHODS, required=True)
    parser.add_argument("--kind", choices=["neural", "video"], required=True)
    add_job_arguments(parser, inputs={"sessions": "+"}, params="{'data': ..., '<method>': ...} as JSON", out_help="the run record")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--device", default="auto")
    args = parse_job_args(parser, argv)
    cfg, sessions = args.params, args.inputs["sessions"]
    if args.method not in cfg:
        raise InputError("--params", args.method, f"the {args.method} hyperparameters")
    if args.kind == "neural":
        require_report(cfg)
    torch.set_num_threads(1)
    device = pick_device(args.device)
    record = RunRecord(args.out, cfg, args.seed, device=describe(device), inputs=sessions)
    stores = [open_session(p) for p in sessions]
    outputs: dict[str, Any] = {"method": args.method}
    metrics: dict[str, Any] = {}
    if args.kind == "neural":
        data = prepare_neural(stores, cfg["data"])
        series = data.z().astype(np.float32)
        res = run_method(args.method, series[data.train], series, cfg, seed=args.seed, device=device,
                         train_counts=data.counts[data.train], all_counts=data.counts)
        if args.method == "lfads":
            outputs["reconstruction_hz"] = torch.as_tensor(res["rates_per_step"] / (data.step_ms / 1000.0))
        elif res.get("reconstruction") is not None:
            outputs["reconstruction_hz"] = torch.as_tensor(data.unz(res["reconstruction"]))
        recon = outputs.get("reconstruction_hz")
        outputs["scores"] = neural_scores(args.method, np.asarray(res["latents"], np.float32), None if recon is None else recon.numpy(),
                                          data, stores, cfg, metrics)
    else:
        video = video_from_store(stores[0])
        res = run_method(args.method, video.frames, video.frames, cfg, seed=args.seed, device=device)
    outputs["latents"] = torch.as_tensor(np.asarray(res["latents"], np.float32))
    if res.get("frames_embedded") is not None:  # T-PHATE above its max_frames: the frames it embedded per sequence
        metrics["frames_embedded_per_sequence"] = int(len(res["frames_embedded"]))
        metrics["frames_per_sequence"] = int(outputs["latents"].shape[1])
        outputs["frames_embedded"] = torch.as_tensor(np.asarray(res["frames_embedded"]))
    if res.get("history"):
        metrics["loss_first10"] = float(np.mean([h["loss"] for h in res["history"][:10]]))
        metrics["loss_last10"] = float(np.mean([h["loss"] for h in res["history"][-10:]]))
    if res.get("state") is not None:
        record.save_torch("model.pt", res["state"])
    record.save_torch("outputs.pt", outputs)
    record.finish(metrics)
    return 0
