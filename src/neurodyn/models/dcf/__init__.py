"""DCF (Wei et al., 2026) and the comparison models of its Tables 1–2.

``COMPARISON_MODELS`` is the registry of the comparison models: name -> (module, fitter, input, on device). Every fitter
takes (train, everything, cfg, *, seed[, device]) and returns a dict with ``latents`` (n, T, 3) of every sequence
and, where the model reconstructs, ``reconstruction`` (or LFADS's ``rates_per_step``); ``input`` says whether it
reads the normalised sequences DCF sees ("sequences") or spike counts ("counts": a model of neural data only).
A model is added by writing its fitter and one line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

# name -> (module, fitter, input kind, whether the fitter trains a network and takes the torch device)
COMPARISON_MODELS: dict[str, tuple[str, str, str, bool]] = {
    "vae": ("neurodyn.models.dcf.vae", "fit_vae", "sequences", True),
    "lfads": ("neurodyn.models.dcf.lfads", "fit_lfads", "counts", True),
    "dmd": ("neurodyn.models.dcf.dmd", "fit_dmd", "sequences", False),
    "cebra": ("neurodyn.models.dcf.embeddings", "fit_cebra", "sequences", False),
    "tphate": ("neurodyn.models.dcf.embeddings", "fit_tphate", "sequences", False),
    "pca": ("neurodyn.models.dcf.embeddings", "fit_pca", "sequences", False),
}


def comparison_fitter(name: str) -> tuple[Callable, str, bool]:
    """(fitter, input kind, takes a device) of comparison model ``name``."""
    if name not in COMPARISON_MODELS:
        raise KeyError(f"unknown comparison model {name!r}; one of {sorted(COMPARISON_MODELS)}")
    module, fn, kind, on_device = COMPARISON_MODELS[name]
    return getattr(importlib.import_module(module), fn), kind, on_device
