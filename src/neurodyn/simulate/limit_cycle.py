"""Limit-cycle family of Meta-Dynamical SSMs (Vermani et al., ICLR 2025, §5.1, Fig 2–3): speed ω varies per dataset.

Latent dynamics in polar coordinates: dr/dt = λ r (1 − r²), dθ/dt = ω — every dataset shares the unit-circle
attractor and differs only in its angular speed ω (rad/s), which the dynamical embedding must capture.
Observed through a dataset-specific random linear map (Gaussian) or log-linear Poisson spiking.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurodyn.errors import InputError
from neurodyn.simulate._planar import simulate_planar, with_defaults
from neurodyn.simulate.base import SimulatedRecording
from neurodyn.simulate.nwb_writer import make_main

DEFAULTS: dict[str, Any] = {"omega": 3.0, "radial_rate": 2.0}


def drift(x: np.ndarray, omega: float, radial_rate: float) -> np.ndarray:
    """Vector field at states x: (n, 2) → (n, 2) (Cartesian form of the polar equations above)."""
    r2 = (x**2).sum(axis=1, keepdims=True)
    rot = np.stack([-x[:, 1], x[:, 0]], axis=1)
    return radial_rate * (1.0 - r2) * x + omega * rot


def simulate(params: dict, seed: int) -> SimulatedRecording:
    """Limit cycle with angular speed `omega` (rad/s); see the module docstring for the parameters."""
    p = with_defaults(params, DEFAULTS, "limit_cycle params")
    if not isinstance(p["omega"], (int, float)):
        raise InputError("limit_cycle params", "omega", "a number (rad/s)", got=p["omega"])
    return simulate_planar(
        lambda x: drift(x, p["omega"], p["radial_rate"]),
        p,
        seed,
        name=f"limit_cycle_omega{p['omega']:g}",
        description=f"2-D limit cycle, omega={p['omega']:g} rad/s, {p['likelihood']} observations",
    )


main = make_main(simulate)
