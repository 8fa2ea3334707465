"""The simulation mechanism: a generator returns a ``SimulatedRecording``; ``nwb_writer.make_main`` turns it
into the ``neurodyn simulate NAME`` command, which writes an NWB file in the NLB layout so that the synthetic
data go through the same conversion as any real recording.

A generator module ``neurodyn/simulate/<name>.py`` defines::

    def simulate(params: dict, seed: int) -> SimulatedRecording: ...
    main = make_main(simulate)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class SimulatedRecording:
    """A synthetic recording, trial-structured.

    Exactly one of ``spike_times`` or ``observations`` is usually given (both are allowed).

    spike_times: per unit, a 1-D array of spike times in seconds (session clock).
    observations: (n_samples, n_channels) continuous observations sampled at ``rate_hz`` from ``start_s``
        (e.g. video frames flattened, continuous-Bernoulli data).
    latents: (n_samples, n_latents) ground-truth latent state on the same clock as observations (or at
        ``rate_hz`` when there are only spikes).
    behaviour: name -> ((n_samples, n_axes) array at ``rate_hz``, axis labels), e.g. hand_vel.
    behaviour_timestamps: (n_samples,) sample times in seconds shared by every behaviour series, written as
        explicit ``timestamps`` (stored once, linked by the other series) as in the NLB MC_Maze files; None
        (default) writes regularly sampled series (``rate_hz`` from ``start_s``).
    trials: columns of the trials table; must hold ``start_time``, ``stop_time`` (s), the alignment event
        column, ``split`` and ``condition``.
    heldout: per unit, True for co-smoothing targets.
    """

    name: str
    rate_hz: float
    trials: dict[str, np.ndarray]
    spike_times: list[np.ndarray] | None = None
    heldout: np.ndarray | None = None
    observations: np.ndarray | None = None
    latents: np.ndarray | None = None
    behaviour: dict[str, tuple[np.ndarray, list[str]]] = field(default_factory=dict)
    behaviour_timestamps: np.ndarray | None = None
    start_s: float = 0.0
    description: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)  # extra metadata (e.g. image shape, true fixed points)
