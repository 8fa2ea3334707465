"""Shared fixtures. Real recordings are read in place from ../shared/data (or $NEURODYN_SHARED_DATA)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    for candidate in (os.environ.get("NEURODYN_SHARED_DATA"), REPO.parent / "shared" / "data"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data; tests using it skip (with the reason) on a clone without it. CI always has it."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("needs the real recordings in ../shared/data (or $NEURODYN_SHARED_DATA); not present in this clone")
    return path


@pytest.fixture(autouse=True)
def _one_thread():
    # 2 cores in CI: keep torch from oversubscribing when tests run in parallel processes
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    yield
