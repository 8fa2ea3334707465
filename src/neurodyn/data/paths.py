"""Paths built from configuration stay where they belong: downloads under ``dandi.raw_dir``, mirror files under
the mirror. Checked in the package, whatever the schema said, because a path is where data could escape to."""

from __future__ import annotations

from pathlib import Path

from neurodyn.config import check_asset_path
from neurodyn.errors import InputError


def contained(root: Path, relative: str, where: str, field: str) -> Path:
    """``root / relative``, refused (InputError) when ``relative`` could leave ``root``: an absolute path or a
    ``..`` component. The check is on the text the config holds; links a user put inside ``root`` (a mirror
    pointing at other storage) are theirs to make and are followed."""
    parts = Path(relative).parts
    if Path(relative).is_absolute() or ".." in parts or not parts:
        raise InputError(where, field, f"a path inside {root}", got=relative)
    return Path(root) / relative


def contained_raw_path(raw_dir: str | Path, dandiset: str, asset_path: str) -> Path:
    """``raw_dir/<dandiset>/<asset path>`` for a checked dandiset id and asset path, inside ``raw_dir``."""
    if not (isinstance(dandiset, str) and len(dandiset) == 6 and dandiset.isdigit()):
        raise InputError("asset", "dandiset", "a 6-digit dandiset identifier", got=dandiset)
    check_asset_path(asset_path, "asset", "path")
    return contained(Path(raw_dir), f"{dandiset}/{asset_path}", "asset", "path")
