"""ERDiff Table 2: cost of alignment per method — added parameters, their size and measured alignment time."""

from __future__ import annotations

import argparse

from neurodyn.config import parse_params
from neurodyn.models.erdiff.report import LABELS, read_runs, summarise, write_csv, write_md


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn table erdiff-table2", description=__doc__)
    parser.add_argument("--runs", nargs="*", default=[])
    parser.add_argument("--spec", required=True)
    parser.add_argument("--csv", required=True)
    parser.add_argument("--md", required=True)
    args = parser.parse_args(argv)
    spec = parse_params(args.spec, "--spec")
    runs = read_runs(args.runs)
    rows = []
    for method in spec["methods"]:
        sel = [r for r in runs if r["method"] == method]
        params = sel[0]["params_added"] if sel else None
        size = sel[0]["size_added_kb"] if sel else None
        t, tsd, n = summarise([r.get("align_step_time_ms") for r in sel])
        total, _, _ = summarise([r.get("align_total_time_s") for r in sel])
        rows.append({
            "key": method, "method": LABELS.get(method, method),
            "added parameters": "—" if params is None else f"{params / 1000:.1f}K",
            "added size (KB)": "—" if size is None else f"{size:.0f}",
            "alignment time per step (ms)": "—" if n == 0 else (f"{t:.1f} (±{tsd:.1f})" if t else "0 (no optimisation)"),
            "alignment wall time (s)": "—" if n == 0 else f"{total:.2f}",
            "params_added": params, "size_added_kb": size, "time_ms_mean": t, "time_ms_sd": tsd, "total_s_mean": total, "seeds": n,
            "pair": sel[0]["pair"] if sel else "",
        })
    preface = (
        "ERDiff Table 2 (reproduced): what each method adds on top of the target read-in (modules it trains or "
        "keeps frozen: ERDiff's diffusion denoiser, the baselines' discriminators / feature extractors), the "
        "size of their float32 state_dict, and the median wall time of one alignment step (forward + backward + "
        "update on one batch) measured on this machine, mean (± sd) over seeds; total = all steps of one run. "
        "A step trains every restart of the read-in at once (erdiff.align.restarts; a baseline's added modules "
        "once per restart, its parameters counted once)."
    )
    cols = ["method", "added parameters", "added size (KB)", "alignment time per step (ms)", "alignment wall time (s)"]
    write_csv(rows, ["key", *cols, "params_added", "size_added_kb", "time_ms_mean", "time_ms_sd", "total_s_mean", "seeds", "pair"], args.csv)
    write_md(rows, cols, args.md, preface)
    return 0
