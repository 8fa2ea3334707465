"""Paths built from configuration stay where they belong: downloads under ``dandi.raw_dir``, mirror files under
the mirror. Checked in the package, whatever the schema said, because a path is where data could escape to."""

from __future__ import annotations

from pathlib import Path

from neurodyn.config import check_asset_path
from neurodyn.errors import InputError


def contained(root: Path, relative: str, where: str, field: str) -> Path:
    """``root / relative``, refused (InputError) unless it resolves inside ``root`` (no ``..``, no absolute path)."""
    candidate = (Path(root) / relative)
    base = Path(root).resolve()
    resolved = candidate.resolve()
    if Path(relative).is_absolute() or ".." in Path(relative).parts or not resolved.is_relative_to(base):
        raise InputError(where, field, f"a path inside {root}", got=relative)
    return candidate


def contained_raw_path(raw_dir: str | Path, dandiset: str, asset_path: str) -> Path:
    """``raw_dir/<dandiset>/<asset path>`` for a checked dandiset id and asset path, inside ``raw_dir``."""
    if not (isinstance(dandiset, str) and len(dandiset) == 6 and dandiset.isdigit()):
        raise InputError("asset", "dandiset", "a 6-digit dandiset identifier", got=dandiset)
    check_asset_path(asset_path, "asset", "path")
    return contained(Path(raw_dir), f"{dandiset}/{asset_path}", "asset", "path")
