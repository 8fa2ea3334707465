"""Session store: one zarr store per recording — the contract between conversion and every model.

Layout (``xarray.open_zarr``-readable; DESIGN.md contract 1):

- ``spikes`` (trial, time, unit) float32 counts per bin of ``attrs.bin_ms``; NaN where the unit was not observed
  (outside ``obs_intervals``), so missing data never pass for silence.
- behaviour variables, e.g. ``hand_vel`` (trial, time, hand_vel_axis) — one axis dimension per variable because
  variables differ in their number of channels (``finger_pos`` has x, y, z).
- optional ``spikes_forward`` (trial, time_forward, unit): the NLB forward-prediction window after ``time``.
- optional ``latents`` (trial, time, latent): ground truth of simulated recordings.
- optional ``observations`` (trial, time, channel): continuous observations (video frames, Bernoulli data).
- coords ``trial`` (trial ids), ``time`` (ms of each bin's left edge, relative to the alignment event),
  ``unit`` (unit ids), ``heldout`` (unit) bool, ``split`` (trial) str, ``condition`` (trial) str.
- attrs: ``bin_ms``, ``align_event``, ``window_ms`` [start, stop], ``source`` (dict: dandiset, version, asset path,
  sha256 — or simulator and parameters), ``converter_version``, ``name``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
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
    ds: xr.Dataset,
    path: str | os.PathLike,
    stream: tuple[list[str], Callable[[int, int], Mapping[str, np.ndarray]]] | None = None,
) -> Path:
    """Validate and write ``ds`` to ``path`` (a ``.zarr`` directory) atomically.

    stream: ``(names, block)`` for (trial, ...) variables too large to hold whole (a full-size MC_Maze session
    at 5 ms is 300 MB of spikes): in ``ds`` they are placeholders of the right shape and dtype (e.g.
    ``np.broadcast_to``, no memory), and ``block(start, stop)`` returns their values for trials [start, stop).
    They are written one chunk of trials at a time; the store is the same as if ``ds`` had held the values.
    """
    validate(ds, path)
    path = Path(path)
    names = list(stream[0]) if stream else []
    rest = ds.drop_vars(names)
    encoding = {v: {"chunks": _chunks(rest[v])} for v in rest.data_vars}
    with atomic_path(path) as tmp:
        rest.to_zarr(tmp, mode="w", consolidated=not names, zarr_format=2, encoding=encoding)
        if names:
            _write_streamed(ds, names, stream[1], tmp)
    return path


def _write_streamed(ds: xr.Dataset, names: list[str], block, tmp: Path) -> None:
    import zarr

    group = zarr.open_group(str(tmp), mode="r+", zarr_format=2)
    n_trial = ds.sizes["trial"]
    step = min(_chunks(ds[name])[0] for name in names)  # one trial chunking for all: each block fills whole chunks
    arrays = {}
    for name in names:
        var = ds[name]
        if var.dims[0] != "trial":
            raise ValueError(f"streamed variable {name} must have trial as its first dimension, not {var.dims}")
        # what xarray writes for a float variable: dims and the non-dimension coordinates sharing its dims
        coords = sorted(c for c in ds.coords if c not in ds.dims and set(ds[c].dims) <= set(var.dims))
        attrs = {**var.attrs, "_ARRAY_DIMENSIONS": list(var.dims)}
        if coords:
            attrs["coordinates"] = " ".join(coords)
        arrays[name] = group.create_array(
            name, shape=var.shape, chunks=(step, *var.shape[1:]), dtype=var.dtype,
            fill_value=np.nan if var.dtype.kind == "f" else None, attributes=attrs,
        )
    for start in range(0, n_trial, step):
        stop = min(n_trial, start + step)
        values = block(start, stop)
        for name in names:
            arrays[name][start:stop] = values[name]
    zarr.consolidate_metadata(str(tmp), zarr_format=2)


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
