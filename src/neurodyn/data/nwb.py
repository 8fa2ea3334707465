"""Lazy reading of NWB files in the Neural Latents Benchmark layout (h5py, no pynwb object graph).

Why h5py and not pynwb here: ``NWBHDF5IO.read()`` builds the whole object graph (every namespace, every
table) and ``units.to_dataframe()`` materialises all spike times at once — 200 MB for MC_Maze alone. The
conversion needs one unit's spike times at a time, the trials table, and slices of behaviour series, so it
reads the HDF5 datasets directly, following the NWB 2.x layout that pynwb writes (and that the NLB files use):

- ``units``: ``id``; ``heldout`` (bool); ragged ``spike_times`` + ``spike_times_index``; ragged
  ``obs_intervals`` (N x 2) + ``obs_intervals_index``. A ragged column's index holds each row's end offset.
- ``intervals/trials``: ``id``, ``start_time``, ``stop_time`` and task columns (ragged ones have ``<col>_index``).
- ``processing/<module>/<series>`` and ``acquisition/<series>``: TimeSeries groups with ``data`` and either
  ``timestamps`` (possibly a soft link to another series' timestamps) or ``starting_time`` (attr ``rate``);
  channel names in the ``comments`` attribute as ``columns=[x,y]`` (the NLB convention).
- ``general/notes``: free text; our simulation writer stores a JSON document there (see
  ``neurodyn.simulate.nwb_writer``).

pynwb is used where validation matters: the simulation writer writes through pynwb, so the files it produces
are valid NWB by construction. Every structural problem raises ``InputError(file, field, expected)``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from neurodyn.errors import InputError


@dataclass
class SeriesInfo:
    """A TimeSeries located in the file, not yet read.

    path: HDF5 path of the group; columns: channel names; n_samples, n_channels: data shape (1-D data has one
    channel); rate_hz / starting_time_s: set for regularly sampled series (else timestamps are stored).
    """

    name: str
    path: str
    columns: list[str]
    n_samples: int
    n_channels: int
    rate_hz: float | None
    starting_time_s: float | None
    unit: str


class NWBReader:
    """Read-only, lazy view of one NWB file. Use as a context manager."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._obs_all: np.ndarray | None = None
        if not self.path.exists():
            raise InputError(self.path, "", "an NWB file (no such file)")
        try:
            self.h5 = h5py.File(self.path, "r")
        except OSError as err:  # truncated or not HDF5 at all
            raise InputError(self.path, "", f"a readable NWB (HDF5) file — {_short(err)}") from err
        try:
            self._check_units()
        except BaseException:
            self.h5.close()
            raise

    def __enter__(self) -> NWBReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.h5.close()
        except Exception:  # already closed
            pass

    # -- low level -----------------------------------------------------------------------------------------
    def _dataset(self, path: str, field: str, expected: str) -> h5py.Dataset:
        try:
            obj = self.h5[path]
        except KeyError:
            raise InputError(self.path, field, expected) from None
        except (OSError, RuntimeError) as err:  # a truncated file fails when a dataset is touched
            raise InputError(self.path, field, f"{expected}, readable — {_short(err)}") from err
        if not isinstance(obj, h5py.Dataset):
            raise InputError(self.path, field, expected, got=type(obj).__name__)
        return obj

    def read(self, path: str, field: str, expected: str, sel: slice | tuple = ()) -> np.ndarray:
        ds = self._dataset(path, field, expected)
        try:
            return ds[sel] if sel != () else ds[()]
        except (OSError, RuntimeError, ValueError) as err:
            raise InputError(self.path, field, f"{expected}, readable — {_short(err)}") from err

    # -- units ---------------------------------------------------------------------------------------------
    def _check_units(self) -> None:
        if "units" not in self.h5:
            if "acquisition/observations" in self.h5:
                # a simulation of continuous observations only (e.g. ERDiff's continuous-Bernoulli domains):
                # no spiking units — the store gets a 0-unit ``spikes`` and the ``observations`` variable
                self.unit_ids = np.zeros(0, np.int64)
                self.heldout = np.zeros(0, bool)
                self._spk_index = self._obs_index = np.zeros(1, np.int64)
                return
            raise InputError(self.path, "units", "a units table (NLB layout: id, heldout, spike_times, obs_intervals)")
        units = self.h5["units"]
        for col, what in (("spike_times", "ragged spike times"), ("obs_intervals", "ragged [start, stop] intervals")):
            if col not in units or f"{col}_index" not in units:
                raise InputError(self.path, f"units/{col}", f"a {what} column ({col} + {col}_index), as nlb_tools requires")
        self.unit_ids = _integer_ids(self.path, "units/id", self.read("units/id", "units/id", "unit ids"), "unit")
        n = len(self.unit_ids)
        if n == 0:
            raise InputError(self.path, "units", "at least one unit")
        self._spk_index = self._ragged_index("spike_times", n)
        self._obs_index = self._ragged_index("obs_intervals", n)
        if "heldout" in units:
            self.heldout = self.read("units/heldout", "units/heldout", "a bool column").astype(bool)
        else:
            self.heldout = np.zeros(n, bool)
        if self.heldout.shape != (n,):
            raise InputError(self.path, "units/heldout", f"{n} values (one per unit)", got=self.heldout.shape)
        obs = self._dataset("units/obs_intervals", "units/obs_intervals", "an (N, 2) array")
        if obs.ndim != 2 or obs.shape[1] != 2:
            raise InputError(self.path, "units/obs_intervals", "an (N, 2) array of [start, stop] seconds", got=obs.shape)
        if obs.dtype.kind not in "iuf":
            raise InputError(self.path, "units/obs_intervals", "numeric [start, stop] seconds", got=str(obs.dtype))
        self._obs_all = self.read("units/obs_intervals", "units/obs_intervals", "intervals").astype(np.float64)
        bad = ~np.isfinite(self._obs_all).all(axis=1) | (self._obs_all[:, 0] >= self._obs_all[:, 1])
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            unit = int(np.searchsorted(self._obs_index, row, side="right") - 1)
            raise InputError(self.path, f"units/obs_intervals (unit {self.unit_ids[unit]}, interval {row})",
                             f"finite [start, stop] seconds with start < stop ({int(bad.sum())} intervals are not)",
                             got=self._obs_all[row].tolist())

    def _ragged_index(self, col: str, n: int) -> np.ndarray:
        index = self.read(f"units/{col}_index", f"units/{col}_index", "a ragged index").astype(np.int64)
        total = self._dataset(f"units/{col}", f"units/{col}", "ragged data").shape[0]
        if index.shape != (n,) or (n and (index[-1] != total or np.any(np.diff(index) < 0))):
            raise InputError(self.path, f"units/{col}_index", f"{n} non-decreasing end offsets ending at {total}")
        return np.concatenate([[0], index])

    @property
    def n_units(self) -> int:
        return len(self.unit_ids)

    @property
    def n_spikes(self) -> int:
        return int(self._spk_index[-1])

    def spike_times(self, i: int) -> np.ndarray:
        """Spike times of unit ``i`` (row number), seconds, float64 (one contiguous read)."""
        a, b = self._spk_index[i], self._spk_index[i + 1]
        times = self.read("units/spike_times", "units/spike_times", "spike times", np.s_[a:b])
        if times.dtype.kind not in "iuf":
            raise InputError(self.path, "units/spike_times", "numeric spike times in seconds", got=str(times.dtype))
        times = times.astype(np.float64)
        finite = np.isfinite(times)
        if not finite.all():
            raise InputError(self.path, f"units/spike_times (unit {self.unit_ids[i]})", "finite spike times in seconds",
                             got=f"{int(times.size - finite.sum())} NaN or infinite of {times.size}")
        return times

    def obs_intervals(self, i: int) -> np.ndarray:
        """(n_intervals, 2) [start, stop] seconds of unit ``i`` (the column is read once: a few MB at most)."""
        if self._obs_all is None:
            self._obs_all = self.read("units/obs_intervals", "units/obs_intervals", "intervals").astype(np.float64)
        return self._obs_all[self._obs_index[i] : self._obs_index[i + 1]]

    # -- trials --------------------------------------------------------------------------------------------
    def trials(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Trial ids and the scalar columns of ``intervals/trials`` (ragged columns such as target_pos skipped)."""
        if "intervals/trials" not in self.h5:
            raise InputError(self.path, "intervals/trials", "a trials table with start_time, stop_time and split")
        group = self.h5["intervals/trials"]
        ids = _integer_ids(self.path, "intervals/trials/id", self.read("intervals/trials/id", "intervals/trials/id", "trial ids"), "trial")
        columns: dict[str, np.ndarray] = {}
        for name, obj in group.items():
            if name == "id" or name.endswith("_index") or f"{name}_index" in group or not isinstance(obj, h5py.Dataset):
                continue
            if obj.ndim != 1 or obj.shape[0] != len(ids):
                continue
            if obj.dtype.kind in "OSU":
                values = np.asarray(obj.asstr()[()], dtype=object).astype(str)
            else:
                values = self.read(f"intervals/trials/{name}", f"intervals/trials/{name}", "a column")
            columns[name] = values
        for col in ("start_time", "stop_time"):
            if col not in columns:
                raise InputError(self.path, f"intervals/trials/{col}", "a trials column (seconds)")
            if columns[col].dtype.kind not in "iuf":
                raise InputError(self.path, f"intervals/trials/{col}", "numeric times in seconds", got=str(columns[col].dtype))
            finite = np.isfinite(columns[col].astype(np.float64))
            if not finite.all():
                i = int(np.flatnonzero(~finite)[0])
                raise InputError(self.path, f"intervals/trials/{col} (trial {ids[i]})", "a finite time in seconds",
                                 got=f"{int((~finite).sum())} NaN or infinite of {len(ids)}")
        backwards = np.flatnonzero(columns["stop_time"] < columns["start_time"])
        if backwards.size:
            i = int(backwards[0])
            raise InputError(self.path, f"intervals/trials (trial {ids[i]})", f"stop_time >= start_time ({backwards.size} trials end before they start)",
                             got=[float(columns["start_time"][i]), float(columns["stop_time"][i])])
        return ids, columns

    # -- time series ---------------------------------------------------------------------------------------
    def series_in(self, group_path: str) -> dict[str, SeriesInfo]:
        """TimeSeries directly under ``group_path`` (e.g. ``processing/behavior``), by name; {} if absent."""
        if group_path not in self.h5:
            return {}
        out = {}
        for name, obj in self.h5[group_path].items():
            if isinstance(obj, h5py.Group) and "data" in obj and ("timestamps" in obj or "starting_time" in obj):
                out[name] = self.series(f"{group_path}/{name}")
        return out

    def series(self, path: str) -> SeriesInfo:
        group = self.h5[path]
        data = self._dataset(f"{path}/data", path, "a TimeSeries with data")
        if data.dtype.kind not in "iufb" or data.ndim == 0:
            raise InputError(self.path, f"{path}/data", "numeric samples (time first)", got=str(data.dtype) if data.ndim else "a scalar")
        n_samples = data.shape[0]
        n_channels = 1 if data.ndim == 1 else int(np.prod(data.shape[1:]))
        comments = _attr_str(group.attrs.get("comments", ""))
        match = re.search(r"columns=\[([^\]]*)\]", comments)
        columns = [c.strip() for c in match.group(1).split(",")] if match else []
        if len(columns) != n_channels:
            columns = [str(i) for i in range(n_channels)] if n_channels > 1 or not columns else columns[:1]
        rate = start = None
        if "timestamps" in group:
            stamps = self._dataset(f"{path}/timestamps", path, "timestamps")
            if stamps.ndim != 1 or stamps.shape[0] != n_samples:
                raise InputError(self.path, f"{path}/timestamps", f"one timestamp per sample of data ({n_samples})", got=stamps.shape[0] if stamps.ndim else "a scalar")
            if stamps.dtype.kind not in "iuf":
                raise InputError(self.path, f"{path}/timestamps", "numeric timestamps in seconds", got=str(stamps.dtype))
        else:
            st = self._dataset(f"{path}/starting_time", path, "timestamps or starting_time + rate")
            rate = float(st.attrs.get("rate", np.nan))
            start = float(st[()])
            if not np.isfinite(rate) or rate <= 0:
                raise InputError(self.path, f"{path}/starting_time", "a positive 'rate' attribute", got=rate)
        return SeriesInfo(
            name=path.rsplit("/", 1)[-1], path=path, columns=columns, n_samples=n_samples, n_channels=n_channels,
            rate_hz=rate, starting_time_s=start, unit=_attr_str(data.attrs.get("unit", "")),
        )

    def timestamps(self, info: SeriesInfo) -> np.ndarray:
        if info.rate_hz is not None:
            return info.starting_time_s + np.arange(info.n_samples) / info.rate_hz
        return self.read(f"{info.path}/timestamps", info.path, "timestamps").astype(np.float64)

    def series_data(self, info: SeriesInfo, start: int, stop: int) -> np.ndarray:
        """(stop - start, n_channels) float64 samples."""
        values = self.read(f"{info.path}/data", info.path, "TimeSeries data", np.s_[start:stop])
        return np.asarray(values, dtype=np.float64).reshape(stop - start, info.n_channels)

    def series_windows(self, info: SeriesInfo, starts: np.ndarray, length: int) -> np.ndarray:
        """(W, length, n_channels) float64: samples [s, s + length) for each start, in one HDF5 read of a union of
        hyperslabs (only those samples leave the file). ``starts`` sorted, windows not overlapping, inside the data."""
        ds = self._dataset(f"{info.path}/data", info.path, "TimeSeries data")
        starts = np.asarray(starts, np.int64)
        out = np.empty((len(starts) * length, *ds.shape[1:]), np.float64)
        if len(starts):
            try:
                space = ds.id.get_space()
                space.select_none()
                rest = tuple(ds.shape[1:])
                for s in starts:
                    space.select_hyperslab((int(s),) + (0,) * len(rest), (length, *rest), op=h5py.h5s.SELECT_OR)
                ds.id.read(h5py.h5s.create_simple(out.shape), space, out, mtype=h5py.h5t.py_create(np.dtype(np.float64)))
            except (OSError, RuntimeError, ValueError, TypeError) as err:
                raise InputError(self.path, info.path, f"TimeSeries data, readable — {_short(err)}") from err
        return out.reshape(len(starts), length, info.n_channels)

    def notes(self) -> str:
        if "general/notes" not in self.h5:
            return ""
        return _attr_str(self.h5["general/notes"][()])


def _integer_ids(path: Path, field: str, values: np.ndarray, what: str) -> np.ndarray:
    """A table's ``id`` column as int64: integers (or whole floats), each once."""
    values = np.asarray(values)
    if values.dtype.kind == "f" and np.all(np.isfinite(values)) and np.all(values == np.round(values)):
        values = values.astype(np.int64)
    if values.dtype.kind == "f":
        bad = values[~np.isfinite(values) | (values != np.round(values))]
        raise InputError(path, field, f"integer {what} ids", got=float(bad[0]))
    if values.dtype.kind not in "iu" or values.ndim != 1:
        raise InputError(path, field, f"integer {what} ids", got=str(values.dtype))
    values = values.astype(np.int64)
    unique, counts = np.unique(values, return_counts=True)
    if (counts > 1).any():
        dup = unique[counts > 1]
        raise InputError(path, field, f"each {what} id once ({dup.size} ids repeat)", got=int(dup[0]))
    return values


def _attr_str(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return " ".join(_attr_str(v) for v in value.ravel())
    return str(value)


def _short(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text[:160]
