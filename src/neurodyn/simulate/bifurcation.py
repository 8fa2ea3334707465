"""Bifurcating planar family of Meta-Dynamical SSMs (Vermani et al., ICLR 2025, §5.1, Fig 4), parameterised by (a, b).

The paper's exact system is not in the available material; we use a two-parameter normal form with two
classical bifurcations so that (a, b) changes the phase portrait qualitatively:

    dr/dt = r (a − r²)              Hopf in a: a < 0 stable focus at 0, a > 0 limit cycle of radius √a
    dθ/dt = ω₀ − b sin θ            SNIC in b: |b| < ω₀ rotation, |b| > ω₀ a stable/saddle pair on the cycle

with ω₀ fixed per family. Observed like the limit-cycle family (random linear map, Gaussian or Poisson).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurodyn.errors import InputError
from neurodyn.simulate._planar import simulate_planar, with_defaults
from neurodyn.simulate.base import SimulatedRecording
from neurodyn.simulate.nwb_writer import make_main

DEFAULTS: dict[str, Any] = {"a": 0.5, "b": 0.0, "omega0": 3.0, "time_scale": 2.0}


def drift(x: np.ndarray, a: float, b: float, omega0: float, time_scale: float) -> np.ndarray:
    """Vector field at states x: (n, 2) → (n, 2), the polar equations in Cartesian form, sped up by time_scale."""
    r = np.sqrt((x**2).sum(axis=1, keepdims=True))
    theta = np.arctan2(x[:, 1:2], x[:, 0:1])
    dr = r * (a - r**2)
    dtheta = omega0 - b * np.sin(theta)
    radial = np.concatenate([np.cos(theta), np.sin(theta)], axis=1)
    tangential = np.concatenate([-np.sin(theta), np.cos(theta)], axis=1)
    return time_scale * (dr * radial + r * dtheta * tangential)


def simulate(params: dict, seed: int) -> SimulatedRecording:
    """Hopf/SNIC normal form with parameters (a, b); see the module docstring."""
    p = with_defaults(params, DEFAULTS, "bifurcation params")
    for key in ("a", "b"):
        if not isinstance(p[key], (int, float)):
            raise InputError("bifurcation params", key, "a number", got=p[key])
    return simulate_planar(
        lambda x: drift(x, p["a"], p["b"], p["omega0"], p["time_scale"]),
        p,
        seed,
        name=f"bifurcation_a{p['a']:g}_b{p['b']:g}",
        description=f"Hopf/SNIC normal form a={p['a']:g}, b={p['b']:g}, {p['likelihood']} observations",
    )


main = make_main(simulate)
