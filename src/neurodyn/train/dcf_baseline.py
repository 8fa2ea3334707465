"""Fit one of DCF's comparison models (VAE, LFADS, DMD, CEBRA, T-PHATE, PCA) and write its run record.

``neurodyn train dcf-baseline --method M --kind neural|video --params JSON --sessions S.zarr ... --seed N --out DIR``

Same data preparation and split as ``neurodyn train dcf``; ``outputs.pt`` holds the 3-D latents of every
sequence and, for models that reconstruct, the firing rates (spikes/s) of every window (Table 2).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch

from neurodyn.config import parse_params
from neurodyn.errors import InputError
from neurodyn.runrecord import RunRecord
from neurodyn.utils.device import describe, pick_device

METHODS = ("vae", "lfads", "dmd", "cebra", "tphate", "pca")


def run_method(method: str, train: np.ndarray, everything: np.ndarray, cfg: dict[str, Any], *, seed: int, device,
               train_counts: np.ndarray | None = None, all_counts: np.ndarray | None = None) -> dict[str, Any]:
    """Dispatch to the model module. Sequences (n, T, D) are the normalised data DCF sees."""
    from neurodyn.models.dcf import dmd, embeddings, lfads, vae

    mcfg = cfg[method]
    if method == "vae":
        return vae.fit_vae(train, everything, mcfg, seed=seed, device=device)
    if method == "lfads":
        if train_counts is None:
            raise InputError("dcf.baselines", "lfads", "spike counts (LFADS is a model of neural data, not video)")
        return lfads.fit_lfads(train_counts, all_counts, mcfg, seed=seed, device=device)
    if method == "dmd":
        return dmd.fit_dmd(train, everything, mcfg)
    if method == "cebra":
        return embeddings.fit_cebra(train, everything, mcfg, seed=seed)
    if method == "tphate":
        return embeddings.fit_tphate(train, everything, mcfg, seed=seed)
    return embeddings.fit_pca(train, everything, mcfg, seed=seed)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn train dcf-baseline", description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=METHODS, required=True)
    parser.add_argument("--kind", choices=["neural", "video"], required=True)
    parser.add_argument("--params", required=True, help="{'data': ..., '<method>': ...} as JSON")
    parser.add_argument("--sessions", nargs="+", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    cfg = parse_params(args.params)
    if args.method not in cfg:
        raise InputError("--params", args.method, f"the {args.method} hyperparameters")
    from neurodyn.models.dcf.data import prepare_neural, video_from_store
    from neurodyn.store import open_session

    torch.set_num_threads(1)
    device = pick_device(args.device)
    record = RunRecord(args.out, cfg, args.seed, device=describe(device), inputs=args.sessions)
    stores = [open_session(p) for p in args.sessions]
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
