"""Every random choice is seeded from config: one call seeds Python, NumPy and torch (all devices)."""

from __future__ import annotations

import hashlib
import random

import numpy as np


def derive_seed(base: int, *labels: object) -> int:
    """A stable 31-bit seed for a named sub-task (e.g. ``derive_seed(cfg_seed, "erdiff", "dann", 3)``)."""
    text = "/".join([str(base), *map(str, labels)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") & 0x7FFFFFFF


def seed_everything(seed: int) -> np.random.Generator:
    """Seed python, numpy and torch; return a NumPy Generator for explicit use."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # the data stages do not need torch
        pass
    return np.random.default_rng(seed)
