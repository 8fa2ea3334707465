"""Compare `neurodyn convert` with nlb_tools 0.0.4 on a real NLB file: counts must match exactly.

nlb_tools needs pandas <= 1.5 and numpy < 2, so it runs in its own virtualenv, named by $NLB_PYTHON
(see ../shared/NLB-DANDI.md "nlb_tools compatibility"):

    python3 -m venv /path/nlbenv && /path/nlbenv/bin/pip install --no-deps nlb-tools==0.0.4 pandas==1.5.3 \
        numpy==1.26.4 pynwb==4.2.0 hdmf==6.2.0 h5py==3.16.0 scipy==1.15.3 scikit-learn==1.5.2 platformdirs \
        jsonschema referencing jsonschema-specifications rpds-py attrs ruamel.yaml python-dateutil pytz six \
        tzdata joblib threadpoolctl
    NLB_PYTHON=/path/nlbenv/bin/python python benchmarks/nlb_reference.py --input FILE.nwb --dataset mc_maze_small

This script runs twice: as itself (neurodyn's environment: converts the file, then compares) and, through
$NLB_PYTHON, as a worker (`--worker`) that builds nlb_tools' tensors and saves them to an npz. Compared:
held-in spikes (and held-out, forward-prediction spikes and the lagged behaviour when the file has them), per
trial, bin and unit. Spikes must be identical (NaNs in the same places); behaviour is compared with a tolerance
(our FIR is applied per window, nlb_tools' over the whole series: float rounding differs). Prints one line per
comparison, wall times of both, and exits 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def worker(args: argparse.Namespace) -> int:
    """Runs under $NLB_PYTHON: nlb_tools' own tensors for the file."""
    import logging

    import numpy as np
    from nlb_tools.make_tensors import make_eval_input_tensors, make_train_input_tensors
    from nlb_tools.nwb_interface import NWBDataset

    logging.disable(logging.WARNING)
    t0 = time.perf_counter()
    dataset = NWBDataset(args.input)
    dataset.resample(args.bin_ms)
    splits = sorted(set(dataset.trial_info.split))
    out: dict = {}
    if "test" in splits:
        data = make_eval_input_tensors(dataset, args.dataset, trial_split="test", save_file=False)
        out["test_heldin"] = data["eval_spikes_heldin"]
    train_splits = [s for s in ("train", "val") if s in splits]
    if train_splits:
        has_behaviour = any(c[0] == "hand_vel" or c[0] == "finger_vel" for c in dataset.data.columns)
        data = make_train_input_tensors(
            dataset, args.dataset, trial_split=train_splits, save_file=False,
            include_behavior=has_behaviour, include_forward_pred=True,
        )
        out["train_heldin"] = data["train_spikes_heldin"]
        out["train_heldout"] = data["train_spikes_heldout"]
        out["train_heldin_forward"] = data["train_spikes_heldin_forward"]
        out["train_heldout_forward"] = data["train_spikes_heldout_forward"]
        if has_behaviour:
            out["train_behavior"] = data["train_behavior"]
    out["seconds"] = np.array(time.perf_counter() - t0)
    np.savez(args.out, **out)
    return 0


def compare(args: argparse.Namespace) -> int:
    import numpy as np

    from neurodyn.config import ROOT, load
    from neurodyn.data.convert import convert
    from neurodyn.data.sources import SessionSources
    from neurodyn.store import open_session

    nlb_python = os.environ.get("NLB_PYTHON")
    if not nlb_python:
        print("set NLB_PYTHON to the python of a virtualenv with nlb-tools 0.0.4 (see this script's docstring)", file=sys.stderr)
        return 2
    config = load(ROOT / "config.yaml")
    nlb = {"name": args.dataset, **config["nlb"][args.dataset]}
    spec = {"name": "reference", "bin_ms": args.bin_ms, "kind": "dandi", "format": "nwb", "nlb": nlb,
            "provenance": {"file": str(args.input)}}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        convert([args.input], spec, Path(tmp) / "s.zarr")
        ours_s = time.perf_counter() - t0
        ds = open_session(Path(tmp) / "s.zarr").load()
        ref_path = Path(tmp) / "nlb.npz"
        t0 = time.perf_counter()
        subprocess.run([nlb_python, __file__, "--worker", "--input", str(args.input), "--dataset", args.dataset,
                        "--bin-ms", str(args.bin_ms), "--out", str(ref_path)], check=True)
        nlb_s = time.perf_counter() - t0
        ref = dict(np.load(ref_path))
    heldout = ds.heldout.values
    split = ds.split.values
    ok = True

    def check(name: str, ours: np.ndarray, theirs: np.ndarray, exact: bool = True) -> None:
        nonlocal ok
        theirs = theirs.astype(np.float64)  # nlb_tools returns float16: sums above 2048 would round
        if ours.shape != theirs.shape:
            print(f"{name}: MISMATCH shape ours {ours.shape} nlb_tools {theirs.shape}")
            ok = False
            return
        same_nan = np.array_equal(np.isnan(ours), np.isnan(theirs))
        if exact:
            diff = int(np.sum(np.nan_to_num(ours) != np.nan_to_num(theirs)))
            good = same_nan and diff == 0
            detail = f"{diff} differing entries, total ours {np.nansum(ours):.0f} nlb_tools {np.nansum(theirs):.0f}"
        else:
            err = np.nanmax(np.abs(ours - theirs)) if np.isfinite(ours).any() else 0.0
            scale = np.nanmax(np.abs(theirs)) if np.isfinite(theirs).any() else 1.0
            good = same_nan and err <= 1e-3 * scale
            detail = f"max |diff| {err:.3g} (scale {scale:.3g})"
        print(f"{name}: {'MATCH' if good else 'MISMATCH'} shape {ours.shape}, NaNs {'same' if same_nan else 'differ'}, {detail}")
        ok &= good

    def ours_of(splits, var, units):
        sel = np.isin(split, splits)
        return ds[var].values[sel][:, :, units].astype(np.float64) if units is not None else ds[var].values[sel].astype(np.float64)

    if "test_heldin" in ref:
        check("test held-in spikes", ours_of(["test"], "spikes", ~heldout), ref["test_heldin"])
    if "train_heldin" in ref:
        tv = ["train", "val"]
        check("train+val held-in spikes", ours_of(tv, "spikes", ~heldout), ref["train_heldin"])
        check("train+val held-out spikes", ours_of(tv, "spikes", heldout), ref["train_heldout"])
        check("train+val held-in forward", ours_of(tv, "spikes_forward", ~heldout), ref["train_heldin_forward"])
        check("train+val held-out forward", ours_of(tv, "spikes_forward", heldout), ref["train_heldout_forward"])
        if "train_behavior" in ref:
            check(f"train+val {nlb['behaviour']} (lag {nlb['lag_ms']} ms)", ours_of(tv, f"{nlb['behaviour']}_lagged", None),
                  ref["train_behavior"], exact=False)
    print(json.dumps({"file": str(args.input), "bin_ms": args.bin_ms, "neurodyn_convert_s": round(ours_s, 3),
                      "nlb_tools_s": round(nlb_s, 3), "nlb_tools_inside_s": round(float(ref["seconds"]), 3),
                      "match": bool(ok)}))
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, type=Path, help="an NLB NWB file")
    parser.add_argument("--dataset", default="mc_maze_small", help="nlb_tools PARAMS key / config nlb key")
    parser.add_argument("--bin-ms", type=int, default=5)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    return worker(args) if args.worker else compare(args)


if __name__ == "__main__":
    sys.exit(main())
