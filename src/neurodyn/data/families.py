"""Families of simulated sessions declared compactly in a paper's config section.

A paper section may hold ``families: {<family>: {generator, bin_ms, params, vary}}``; ``vary`` maps generator
parameters to equally long lists, zipped into members ``<family>_00``, ``<family>_01``, … Each member becomes
a session entry exactly like one written by hand under ``sessions:`` (``source: {simulate: …}``), so the
simulate → NWB → convert rules build it like any other session. Names written under ``sessions:`` win.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neurodyn.errors import InputError


def family_members(name: str, family: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    vary = family.get("vary", {})
    lengths = {len(v) for v in vary.values()}
    if len(lengths) > 1:
        raise InputError("config", f"families.{name}.vary", "lists of equal length", got={k: len(v) for k, v in vary.items()})
    n = lengths.pop() if lengths else 1
    width = max(2, len(str(n - 1)))
    out = {}
    for i in range(n):
        params = {"bin_ms": family["bin_ms"], **family.get("params", {}), **{k: v[i] for k, v in vary.items()}}
        n_bins = params.get("n_bins")
        entry: dict[str, Any] = {
            "source": {"simulate": {"generator": family["generator"], "params": params}},
            "bin_ms": family["bin_ms"],
            "align_event": "start_time",
        }
        if n_bins:
            entry["window_ms"] = [0, n_bins * family["bin_ms"]]
        out[f"{name}_{i:0{width}d}"] = entry
    return out


def family_sessions(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every member of every ``families`` block found in a top-level config section."""
    out: dict[str, dict[str, Any]] = {}
    for section in config.values():
        if isinstance(section, Mapping) and isinstance(section.get("families"), Mapping):
            for name, family in section["families"].items():
                out.update(family_members(name, family))
    return out


def expand(config: Mapping[str, Any], names: list[str]) -> list[str]:
    """Session names with family names replaced by their members (in order)."""
    families: dict[str, list[str]] = {}
    for section in config.values():
        if isinstance(section, Mapping) and isinstance(section.get("families"), Mapping):
            for fam, spec in section["families"].items():
                families[fam] = list(family_members(fam, spec))
    out: list[str] = []
    for name in names:
        out.extend(families.get(name, [name]))
    return out
