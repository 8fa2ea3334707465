"""Write a ``SimulatedRecording`` as an NWB file in the NLB layout, so simulations go through `neurodyn convert`.

Layout (pynwb, NWB 2.x; read back by ``neurodyn.data.nwb``):

- ``units``: ``spike_times`` (s), ``obs_intervals`` = the trial intervals (spikes are simulated inside trials;
  time outside them is unobserved, hence NaN in the store), ``heldout`` (bool).
- ``intervals/trials``: ``start_time``, ``stop_time`` and every other column of ``recording.trials`` (the
  alignment event, ``split``, ``condition``, ...).
- ``processing/behavior/<name>``: one TimeSeries per behaviour variable, regularly sampled (``rate`` =
  ``recording.rate_hz``, ``starting_time`` = ``recording.start_s``) or, when ``recording.behaviour_timestamps``
  is set, with explicit ``timestamps`` stored by the first series and linked by the others (the MC_Maze layout);
  channel names in ``comments`` as ``columns=[x,y]`` (the NLB convention nlb_tools parses).
- ``acquisition/observations``: continuous observations (n_samples, n_channels), same clock, gzip-compressed.
- ``processing/ground_truth/latents``: the ground-truth latent state, same clock, gzip-compressed. A separate
  module so no tool mistakes the truth for behaviour.
- ``general/notes``: a JSON document ``{"neurodyn_simulation": {generator, params, seed, attrs, description,
  name}}`` — NWB has no typed slot for arbitrary simulator parameters, and ``notes`` is a plain text field that
  every NWB reader preserves; the converter copies it into the store's ``attrs.source``.

The file is written through pynwb (valid NWB by construction) to a temporary sibling and renamed.
The identifier is a UUID derived from (name, seed) and the session start time is fixed, so the same
recording and seed give the same file content apart from HDF5 object ids and the creation date.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from neurodyn.errors import InputError
from neurodyn.simulate.base import SimulatedRecording
from neurodyn.utils.atomic import atomic_path

SESSION_START = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
REQUIRED_TRIAL_COLUMNS = ("start_time", "stop_time", "split", "condition")


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def _check(recording: SimulatedRecording, required: tuple[str, ...] = REQUIRED_TRIAL_COLUMNS) -> int:
    where = f"simulation {recording.name}"
    for col in required:
        if col not in recording.trials:
            raise InputError(where, f"trials.{col}", "a trials column (start_time, stop_time, split, condition, align event)")
    n_trials = len(recording.trials["start_time"])
    for col, values in recording.trials.items():
        if len(values) != n_trials:
            raise InputError(where, f"trials.{col}", f"{n_trials} values (one per trial)", got=len(values))
    if recording.spike_times is None and recording.observations is None:
        raise InputError(where, "spike_times", "spike times or observations")
    if recording.spike_times is not None and recording.heldout is not None and len(recording.heldout) != len(recording.spike_times):
        raise InputError(where, "heldout", f"{len(recording.spike_times)} flags (one per unit)", got=len(recording.heldout))
    return n_trials


def _series(name: str, data: np.ndarray, rate_hz: float, start_s: float, columns: list[str], unit: str, description: str,
            compress: bool, timestamps=None):
    """A TimeSeries; ``timestamps`` (an array, or another TimeSeries to link to) replaces rate/starting_time."""
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from pynwb import TimeSeries

    data = np.asarray(data, dtype=np.float64)
    if data.ndim == 1:
        data = data[:, None]
    clock = {"timestamps": timestamps} if timestamps is not None else {"rate": float(rate_hz), "starting_time": float(start_s)}
    return TimeSeries(
        name=name, data=H5DataIO(data, compression="gzip") if compress else data, unit=unit, **clock,
        comments=f"columns=[{','.join(str(c) for c in columns)}]", description=description,
    )


def write_nwb(recording: SimulatedRecording, path: str | os.PathLike, seed: int, generator: str | None = None,
              required_trial_columns: tuple[str, ...] = REQUIRED_TRIAL_COLUMNS) -> Path:
    """Write ``recording`` to ``path`` (NWB/HDF5) atomically; returns the path.

    ``required_trial_columns``: the trials columns the recording must have (stand-ins of real DANDI files,
    ``neurodyn.rehearsal.standins``, imitate tables without a ``condition`` column, or without ``split``).
    ``recording.attrs["behaviour_units"]`` (name -> unit string), when present, sets each behaviour series'
    unit (default "a.u."); ``recording.attrs["units_heldout_column"] = False`` leaves out ``heldout``.
    """
    from pynwb import NWBHDF5IO, NWBFile

    n_trials = _check(recording, tuple(required_trial_columns))
    notes = {"neurodyn_simulation": _jsonable({
        "generator": generator or recording.attrs.get("generator"), "params": dict(recording.params), "seed": int(seed),
        "attrs": recording.attrs, "description": recording.description, "name": recording.name,
    })}
    nwb = NWBFile(
        session_description=recording.description or f"neurodyn simulation {recording.name}",
        identifier=str(uuid.uuid5(uuid.NAMESPACE_URL, f"neurodyn-simulation/{recording.name}/{seed}")),
        session_start_time=SESSION_START, session_id=recording.name, notes=json.dumps(notes),
    )
    trials = recording.trials
    for col in trials:
        if col not in ("start_time", "stop_time"):
            nwb.add_trial_column(name=col, description=f"simulation trial column {col}")
    cols = {k: (np.asarray(v).astype(str) if np.asarray(v).dtype.kind in "OUS" else np.asarray(v)) for k, v in trials.items()}
    for i in range(n_trials):
        nwb.add_trial(**{k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in cols.items()})

    if recording.spike_times is not None:
        intervals = np.stack([np.asarray(trials["start_time"], float), np.asarray(trials["stop_time"], float)], axis=1)
        intervals = intervals[np.argsort(intervals[:, 0], kind="stable")]
        heldout = np.zeros(len(recording.spike_times), bool) if recording.heldout is None else np.asarray(recording.heldout, bool)
        with_heldout = recording.attrs.get("units_heldout_column", True)
        if with_heldout:
            nwb.add_unit_column(name="heldout", description="True for held-out units (co-smoothing targets)")
        for times, held in zip(recording.spike_times, heldout):
            extra = {"heldout": bool(held)} if with_heldout else {}
            nwb.add_unit(spike_times=np.sort(np.asarray(times, np.float64)), obs_intervals=intervals, **extra)

    if recording.behaviour:
        module = nwb.create_processing_module(name="behavior", description="simulated behaviour")
        stamps = None if recording.behaviour_timestamps is None else np.asarray(recording.behaviour_timestamps, np.float64)
        clock = stamps
        for name, (values, axes) in recording.behaviour.items():
            if stamps is not None and len(values) != len(stamps):
                raise InputError(f"simulation {recording.name}", f"behaviour.{name}", f"{len(stamps)} samples (one per behaviour timestamp)", got=len(values))
            unit = recording.attrs.get("behaviour_units", {}).get(name, "a.u.")
            series = _series(name, values, recording.rate_hz, recording.start_s, list(axes), unit, f"simulated {name}", False, timestamps=clock)
            module.add(series)
            if isinstance(clock, np.ndarray):
                clock = series  # the next series link to these timestamps instead of storing them again
    if recording.observations is not None:
        obs = np.asarray(recording.observations)
        nwb.add_acquisition(_series("observations", obs.reshape(len(obs), -1), recording.rate_hz, recording.start_s,
                                    [f"c{i}" for i in range(int(np.prod(obs.shape[1:])))], "a.u.", "simulated observations", True))
    if recording.latents is not None:
        lat = np.asarray(recording.latents)
        module = nwb.create_processing_module(name="ground_truth", description="ground truth of the simulation (not observed)")
        module.add(_series("latents", lat.reshape(len(lat), -1), recording.rate_hz, recording.start_s,
                           [f"z{i}" for i in range(int(np.prod(lat.shape[1:])))], "a.u.", "ground-truth latent state", True))

    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not end in '.nwb'")  # the temporary sibling's name
        with NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwb)
    return Path(path)


def make_main(simulate: Callable[[dict, int], SimulatedRecording]) -> Callable[[list[str]], int]:
    def main(argv: list[str]) -> int:
        from neurodyn.utils.jobargs import add_job_arguments, parse_job_args

        parser = argparse.ArgumentParser(prog="neurodyn simulate", description=(simulate.__doc__ or "").strip())
        add_job_arguments(parser, params="generator parameters as a JSON object", out_help="NWB file to write")
        parser.add_argument("--seed", type=int, required=True)
        parser.add_argument("--name", required=True, help="session name recorded in the file")
        args = parse_job_args(parser, argv)
        recording = simulate(args.params, args.seed)
        recording.name = args.name
        write_nwb(recording, args.out, seed=args.seed, generator=simulate.__module__.rsplit(".", 1)[-1].replace("_", "-"))
        return 0

    return main
