"""The alignment baselines of ERDiff's Table 1, each an objective on the same trainable target read-in.

Every baseline sees what ERDiff sees: unlabeled target trials and the frozen source model's latents of source
trials; none uses target behaviour. ``build(name, ...)`` is the small name -> class registry.
"""

from __future__ import annotations

import importlib

NAMES = {
    "cycle_gan": ("neurodyn.models.erdiff.baselines.cycle_gan", "CycleGAN"),
    "jsdm": ("neurodyn.models.erdiff.baselines.jsdm", "JSDM"),
    "sasa": ("neurodyn.models.erdiff.baselines.sasa", "SASA"),
    "dann": ("neurodyn.models.erdiff.baselines.dann", "DANN"),
    "rdammd": ("neurodyn.models.erdiff.baselines.rdammd", "RDAMMD"),
    "daf": ("neurodyn.models.erdiff.baselines.daf", "DAF"),
}


def build(name: str, **kwargs):
    """Instantiate baseline ``name`` with keyword-only arguments (its config block plus the data sizes)."""
    if name not in NAMES:
        raise KeyError(f"unknown baseline {name!r}; one of {sorted(NAMES)}")
    module, cls = NAMES[name]
    return getattr(importlib.import_module(module), cls)(**kwargs)
