"""Test helpers for ERDiff: session stores made the way the DAG makes them — the bundled npz pair through
``neurodyn convert`` (format erdiff_npz, the config's sha256 and split), the synthetic domains through the
simulation NWB writer and the same converter."""

from __future__ import annotations

from pathlib import Path

import yaml

from neurodyn.data.convert import convert

REPO = Path(__file__).resolve().parents[1]


def _session_config(name: str) -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())["sessions"][name]


def bundled_store(shared_data: Path, role: str, out: Path) -> Path:
    """``erdiff_m1_<role>`` as `neurodyn convert` writes it (168 trials x 14 bins; 187 / 172 units)."""
    cfg = _session_config(f"erdiff_m1_{role}")
    mirror = cfg["source"]["mirror"]
    spec = {"name": f"erdiff_m1_{role}", "bin_ms": cfg["bin_ms"], "kind": "mirror", "format": "erdiff_npz",
            "provenance": {"sha256": mirror["sha256"], "role": mirror["role"], "mirror_file": mirror["file"]},
            "split": cfg["split"], "seed": 0}
    return convert([shared_data / mirror["file"]], spec, out)


def synthetic_store(params: dict, seed: int, out: Path) -> Path:
    """One continuous-Bernoulli domain: generator -> NWB (simulation writer) -> `neurodyn convert` -> store."""
    from neurodyn.simulate.erdiff_bernoulli import DEFAULTS, simulate
    from neurodyn.simulate.nwb_writer import write_nwb

    p = {**DEFAULTS, **params}
    nwb = write_nwb(simulate(p, seed), out.with_suffix(".nwb"), seed=seed, generator="erdiff-bernoulli")
    spec = {"name": out.stem, "bin_ms": p["bin_ms"], "kind": "simulate", "format": "nwb", "align_event": "start_time",
            "window_ms": [0, p["n_bins"] * p["bin_ms"]],
            "provenance": {"simulator": "erdiff-bernoulli", "params": p, "seed": seed}}
    return convert([nwb], spec, out)
