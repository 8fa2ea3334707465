"""Files in the local mirror (``config mirror:``), found by name: the offline source of assets and excerpts."""

from __future__ import annotations

import functools
import os
from pathlib import Path


@functools.lru_cache(maxsize=8)
def _mirror_index(mirror: str) -> dict[str, list[Path]]:
    index: dict[str, list[Path]] = {}
    for dirpath, _dirs, files in os.walk(mirror):
        for name in files:
            index.setdefault(name, []).append(Path(dirpath) / name)
    return index


def find_in_mirror(mirror: str | None, asset_path: str, size: int | None = None) -> Path | None:
    """A file in the mirror with the asset's file name (and size, when known); digests are checked by the caller."""
    if not mirror or not Path(mirror).is_dir():
        return None
    for candidate in _mirror_index(str(Path(mirror).resolve())).get(Path(asset_path).name, []):
        if size is None or candidate.stat().st_size == size:
            return candidate
    return None
