"""Read one full MC_Maze trial exported at 1 ms (the ``nlb-mc-maze-2trials-1ms`` mirror files) into a session store.

npz keys: ``timestamps_s`` (T,), ``unit_ids`` (N,), ``spikes_1ms`` (T, N) 0/1, and (T, 2) behaviour arrays
``cursor_pos``, ``eye_pos``, ``hand_pos``, ``hand_vel``. The file has no trial metadata (no move onset, no
condition) and does not say which units are held out, so the store has one trial, aligned to its first sample
(``align_event: trial_start``), every unit marked held-in, condition "unknown". Spikes are summed and behaviour
averaged into ``bin_ms`` bins; a last partial bin is dropped.

Convert dispatch: mirror format ``nlb_trial_npz`` -> :func:`read`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from neurodyn.errors import InputError
from neurodyn.store import make_session

BEHAVIOUR = ("cursor_pos", "eye_pos", "hand_pos", "hand_vel")


def read(path: str | os.PathLike, *, name: str, bin_ms: float, trial_id: str | None = None):
    """-> xarray Dataset honouring the session-store contract, one trial."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "", "an MC_Maze 1 ms trial .npz (no such file)")
    try:
        npz = np.load(path, allow_pickle=False)
        missing = [k for k in ("timestamps_s", "unit_ids", "spikes_1ms", *BEHAVIOUR) if k not in npz]
    except (OSError, ValueError) as err:
        raise InputError(path, "", f"a readable .npz ({err})") from err
    if missing:
        raise InputError(path, missing[0], "the keys timestamps_s, unit_ids, spikes_1ms, cursor_pos, eye_pos, hand_pos, hand_vel")
    ts = np.asarray(npz["timestamps_s"], np.float64)
    if len(ts) > 1 and not np.allclose(np.diff(ts), 0.001, atol=1e-6):
        raise InputError(path, "timestamps_s", "samples every 1 ms")
    spikes = np.asarray(npz["spikes_1ms"], np.float32)
    k = int(round(bin_ms))
    if k < 1 or abs(k - bin_ms) > 1e-9:
        raise InputError(path, "bin_ms", "a whole number of milliseconds", got=bin_ms)
    n_bins = len(ts) // k
    binned = spikes[: n_bins * k].reshape(n_bins, k, -1).sum(1)
    behaviour = {}
    for var in BEHAVIOUR:
        values = np.asarray(npz[var], np.float64)[: n_bins * k].reshape(n_bins, k, -1).mean(1)
        behaviour[var] = (values[None], ["x", "y"])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return make_session(
        name=name,
        spikes=binned[None],
        bin_ms=float(k),
        time_ms=np.arange(n_bins) * float(k),
        align_event="trial_start",
        source={"mirror_file": path.name, "sha256": digest, "dandiset": "000128", "version": "0.220113.0400",
                "session_start_s": float(ts[0]), "note": "one MC_Maze train trial at 1 ms (HiSDE export); no trial metadata"},
        trial_ids=np.array([trial_id or path.stem]),
        unit_ids=np.asarray(npz["unit_ids"]),
        condition=np.array(["unknown"]),
        behaviour=behaviour,
    )
