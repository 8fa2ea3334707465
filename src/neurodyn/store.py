"""Session store: one zarr store per recording — the contract between conversion and every model.

Layout (``xarray.open_zarr``-readable; docs/contracts.md §1):

- ``spikes`` (trial, time, unit) float32 counts per bin of ``attrs.bin_ms``; NaN where the unit was not observed
  (outside ``obs_intervals``), so missing data never pass for silence.
- behaviour variables, e.g. ``hand_vel`` (trial, time, hand_vel_axis) — one axis dimension per variable because
  variables differ in their number of channels (``finger_pos`` has x, y, z).
- optional ``spikes_forward`` (trial, time_forward, unit): the NLB forward-prediction window after ``time``.
- optional ``latents`` (trial, time, latent): ground truth of simulated recordings.
- optional ``observations`` (trial, time, channel): continuous observations (video frames, Bernoulli data).
- coords ``trial`` (trial ids), ``time`` (ms of each bin's left edge, relative to the alignment event),
  ``unit`` (unit ids), ``heldout`` (unit) bool, ``split`` (trial) str, ``condition`` (trial) str.
- written by ``neurodyn convert`` (see ``neurodyn.data.convert``): ``<behaviour>_lagged`` (the NLB decoding
  target: the benchmark's behaviour field over the window shifted by ``attrs.behaviour_lag_ms``), coord
  ``window_start_s`` (trial: session-clock time of the first bin edge), coords ``latent`` / ``channel`` for
  simulations, attrs ``nlb`` (the window definition), ``condition_fields``, ``dropped_trials`` and notes.
- attrs: ``bin_ms``, ``align_event``, ``window_ms`` [start, stop], ``source`` (dict: dandiset, version, asset path,
  sha256 — or simulator and parameters), ``converter_version``, ``name``, ``written_by`` ("neurodyn": the mark
  that lets a later conversion replace the store, see ``neurodyn.utils.atomic``). ``neurodyn convert`` adds
  ``source.read`` (file, size and sha256 of the bytes it converted), ``convert_spec``, ``fingerprint`` (what
  training runs key their resume state on) and ``spikes_dropped`` / ``n_spikes_in_file``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from neurodyn.errors import InputError
from neurodyn.utils.atomic import atomic_path

CONVERTER_VERSION = "1"
REQUIRED_ATTRS = ("bin_ms", "align_event", "window_ms", "source", "converter_version", "name")
REQUIRED_COORDS = ("trial", "time", "unit", "heldout", "split", "condition")


def make_session(
    *,
    name: str,
    spikes: np.ndarray,
    bin_ms: float,
    time_ms: np.ndarray,
    align_event: str,
    source: Mapping[str, Any],
    trial_ids: np.ndarray | None = None,
    unit_ids: np.ndarray | None = None,
    heldout: np.ndarray | None = None,
    split: np.ndarray | None = None,
    condition: np.ndarray | None = None,
    behaviour: Mapping[str, tuple[np.ndarray, list[str]]] | None = None,
    spikes_forward: np.ndarray | None = None,
    latents: np.ndarray | None = None,
    observations: np.ndarray | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Build a contract-conforming Dataset.

    spikes: (trial, time, unit) counts; behaviour: name -> ((trial, time, axis) array, axis labels);
    spikes_forward: (trial, time_forward, unit); latents: (trial, time, latent);
    observations: (trial, time, channel).
    """
    spikes = np.asarray(spikes, dtype=np.float32)
    n_trial, n_time, n_unit = spikes.shape
    time_ms = np.asarray(time_ms, dtype=np.float64)
    data_vars: dict[str, Any] = {"spikes": (("trial", "time", "unit"), spikes)}
    for var, (values, axes) in (behaviour or {}).items():
        data_vars[var] = (("trial", "time", f"{var}_axis"), np.asarray(values, dtype=np.float32))
    coords: dict[str, Any] = {
        "trial": np.arange(n_trial) if trial_ids is None else np.asarray(trial_ids),
        "time": time_ms,
        "unit": np.arange(n_unit) if unit_ids is None else np.asarray(unit_ids),
        "heldout": ("unit", np.zeros(n_unit, bool) if heldout is None else np.asarray(heldout, bool)),
        "split": ("trial", np.full(n_trial, "train") if split is None else np.asarray(split).astype(str)),
        "condition": ("trial", np.full(n_trial, "0") if condition is None else np.asarray(condition).astype(str)),
    }
    for var, (values, axes) in (behaviour or {}).items():
        coords[f"{var}_axis"] = list(axes)
    if spikes_forward is not None:
        n_fwd = spikes_forward.shape[1]
        data_vars["spikes_forward"] = (("trial", "time_forward", "unit"), np.asarray(spikes_forward, np.float32))
        coords["time_forward"] = time_ms[-1] + bin_ms + bin_ms * np.arange(n_fwd)
    if latents is not None:
        data_vars["latents"] = (("trial", "time", "latent"), np.asarray(latents, np.float32))
    if observations is not None:
        data_vars["observations"] = (("trial", "time", "channel"), np.asarray(observations, np.float32))
    all_attrs = {
        "name": name,
        "bin_ms": float(bin_ms),
        "align_event": align_event,
        "window_ms": [float(time_ms[0]), float(time_ms[-1] + bin_ms)],
        "source": dict(source),
        "converter_version": CONVERTER_VERSION,
        "written_by": "neurodyn",
    }
    all_attrs.update(attrs or {})
    return xr.Dataset(data_vars, coords=coords, attrs=_jsonable(all_attrs))


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def validate(ds: xr.Dataset, where: str | os.PathLike = "session") -> None:
    """Raise InputError unless ``ds`` honours the session-store contract."""
    if "spikes" not in ds and "observations" not in ds:
        raise InputError(where, "spikes", "a (trial, time, unit) variable 'spikes' or 'observations'")
    if "spikes" in ds and ds["spikes"].dims != ("trial", "time", "unit"):
        raise InputError(where, "spikes", "dims (trial, time, unit)", got=ds["spikes"].dims)
    for coord in REQUIRED_COORDS:
        if coord not in ds.coords:
            raise InputError(where, coord, f"coordinate {coord!r}")
    for attr in REQUIRED_ATTRS:
        if attr not in ds.attrs:
            raise InputError(where, f"attrs.{attr}", f"attribute {attr!r}")


def write_session(
    ds: xr.Dataset, path: str | os.PathLike, *, fill: Callable[[Path, Mapping[str, tuple[int, ...]]], None] | None = None,
    inputs: Iterable[str | os.PathLike] = (),
) -> Path:
    """Validate and write ``ds`` to ``path`` (a ``.zarr`` directory) atomically.

    ``fill(tmp, chunks)``, when given, runs after ``ds`` is written and before the store is renamed into place:
    it may overwrite variables region by region (``zarr.open_array(tmp / var, mode="r+")[a:b] = ...``), so a
    large variable can be built block-wise — ``ds`` then holds a zero-memory placeholder for it, e.g.
    ``np.broadcast_to(np.float32(np.nan), shape)``. ``chunks`` maps each variable to its chunk shape.
    """
    validate(ds, path)
    path = Path(path)
    encoding = {v: {"chunks": _chunks(ds[v])} for v in ds.data_vars}
    with atomic_path(path, inputs=inputs) as tmp:
        ds.to_zarr(tmp, mode="w", consolidated=True, zarr_format=2, encoding=encoding)
        if fill is not None:
            fill(tmp, {v: enc["chunks"] for v, enc in encoding.items()})
    return path


def _chunks(var: xr.DataArray) -> tuple[int, ...]:
    # whole trials per chunk, ~4 MB: models read trial batches, figures read one variable at a time
    per_trial = int(np.prod(var.shape[1:])) * var.dtype.itemsize if var.ndim > 1 else var.dtype.itemsize
    n = max(1, min(var.shape[0], (4 << 20) // max(per_trial, 1))) if var.ndim else 1
    return (n, *var.shape[1:])


def open_session(path: str | os.PathLike) -> xr.Dataset:
    """Open a session store lazily (safe to call per DataLoader worker) and check the contract."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "", "a session store written by `neurodyn convert` (no such path)")
    try:
        ds = xr.open_zarr(path, consolidated=True)
    except Exception as err:  # zarr raises many types for a broken store
        raise InputError(path, "", f"a readable zarr session store ({type(err).__name__}: {err})") from err
    validate(ds, path)
    return ds
