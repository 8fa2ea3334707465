"""Conversion speed and memory: `neurodyn convert` against nlb_tools' own loader on a full-size MC_Maze-like file.

    python benchmarks/convert.py                       # full size (~3 min to generate once; nlb_tools ~11 GB RAM)
    python benchmarks/convert.py --scale 0.05          # a 5 % session: quick, ~1 GB for nlb_tools
    python benchmarks/convert.py --skip-nlb            # neurodyn and the read floor only

For each bin width (5 and 20 ms by default) it runs, each in its own process, measured from outside:

- ``neurodyn convert`` (the NLB window definition ``nlb.mc_maze`` of config.yaml) -> a session store;
- nlb_tools 0.0.4 in its isolated virtualenv: ``NWBDataset(file)`` + ``resample(bin)`` +
  ``make_train_input_tensors`` (train + val, with behaviour and forward prediction) + ``make_eval_input_tensors``
  (test), i.e. ``benchmarks/nlb_reference.py --worker``;

and reports wall time, spikes per second (all spikes in the file / wall time) and peak RSS (``os.wait4`` rusage
of that child alone), the ratios, and the floor: the time to read every spike time from the file (h5py, one
read, warm page cache). Counts are then compared entry by entry (held-in, held-out, forward, and the lagged
behaviour within 1e-3 of its scale): the script exits 1 on any mismatch.

nlb_tools needs old pandas/numpy: its virtualenv is ``$NLB_PYTHON`` if set, else ``benchmarks/.nlbenv``
(git-ignored), created on first use with pip (recipe in ../shared/NLB-DANDI.md "nlb_tools compatibility").
The MC_Maze-like file is made by ``benchmarks/make_mc_maze_like.py`` into ``benchmarks/out/`` when missing.
Figures go to stdout and to ``benchmarks/out/convert.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
NLB_ENV = HERE / ".nlbenv"
# what nlb-tools 0.0.4 needs, with versions that work together (tested here; pandas <= 1.5 is the constraint)
NLB_PACKAGES = [
    "nlb-tools==0.0.4", "pandas==1.5.3", "numpy==1.26.4", "pynwb==4.2.0", "hdmf==6.2.0", "h5py==3.16.0",
    "scipy==1.15.3", "scikit-learn==1.5.2", "platformdirs", "jsonschema", "referencing", "jsonschema-specifications",
    "rpds-py", "attrs", "ruamel.yaml", "python-dateutil", "pytz", "six", "tzdata", "joblib", "threadpoolctl",
]
GIB = 1 << 30


def nlb_python(explicit: str | None) -> Path:
    """The python of a virtualenv with nlb-tools 0.0.4: $NLB_PYTHON, or benchmarks/.nlbenv (created if missing)."""
    if explicit:
        return Path(explicit)
    py = NLB_ENV / "bin" / "python"
    if not py.exists():
        print(f"creating {NLB_ENV} (nlb-tools 0.0.4 and its old pandas/numpy; once)", file=sys.stderr)
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(NLB_ENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", *NLB_PACKAGES], check=True)
    return py


# Runs the command as its own child and reports that child's peak RSS. A tiny interpreter does the fork: Linux
# carries a process's RSS high-water mark across exec, so a child forked straight from this (large) process would
# report at least this process's size.
_SPAWN = """
import json, os, sys
fd, cmd = int(sys.argv[1]), sys.argv[2:]
pid = os.fork()
if pid == 0:
    os.close(fd)
    os.execvp(cmd[0], cmd)
_, status, usage = os.wait4(pid, 0)
os.write(fd, json.dumps({"maxrss_kb": usage.ru_maxrss, "code": os.waitstatus_to_exitcode(status)}).encode())
"""


def run_measured(cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd``; wall seconds, peak RSS (bytes) of that process alone, exit status, stderr tail."""
    read_fd, write_fd = os.pipe()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-S", "-c", _SPAWN, str(write_fd), *cmd], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, pass_fds=(write_fd,))
    os.close(write_fd)
    err = proc.stderr.read()  # before waiting: a full pipe would block the child
    proc.wait()
    wall = time.perf_counter() - t0
    with os.fdopen(read_fd, "rb") as fh:
        info = json.loads(fh.read() or b'{"maxrss_kb": 0, "code": -1}')
    rss = info["maxrss_kb"] * (1024 if platform.system() == "Linux" else 1)
    return {"wall_s": wall, "peak_rss_bytes": int(rss), "returncode": info["code"],
            "stderr_tail": err.decode("utf-8", "replace").strip().splitlines()[-3:]}


def read_floor(path: Path, repeats: int = 3) -> tuple[float, int]:
    """Fastest of ``repeats`` reads of every spike time (one h5py read of units/spike_times), and the count."""
    import h5py

    best, n = float("inf"), 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        with h5py.File(path, "r") as f:
            times = f["units/spike_times"][()]
        best = min(best, time.perf_counter() - t0)
        n = times.size
    return best, n


def file_summary(path: Path) -> dict:
    import h5py

    with h5py.File(path, "r") as f:
        ts = f["processing/behavior/hand_pos/timestamps"]
        return {"file": str(path), "bytes": path.stat().st_size, "units": int(f["units/id"].shape[0]),
                "heldout": int(f["units/heldout"][()].sum()), "trials": int(f["intervals/trials/id"].shape[0]),
                "session_s": round(float(ts[-1] - ts[0]), 1), "spikes": int(f["units/spike_times"].shape[0])}


def spec_for(bin_ms: int) -> dict:
    from neurodyn.config import load

    config = load(ROOT / "config.yaml")
    return {"name": "mc_maze_like", "bin_ms": bin_ms, "kind": "dandi", "format": "nwb",
            "nlb": {"name": "mc_maze", **config["nlb"]["mc_maze"]},
            "provenance": {"file": "benchmarks/make_mc_maze_like.py"}}


def mem_available() -> int | None:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nwb", type=Path, help="an MC_Maze-like NWB file (default: benchmarks/out/mc_maze_like[_<scale>].nwb, made if missing)")
    parser.add_argument("--scale", type=float, default=1.0, help="size of the generated file relative to MC_Maze (default 1)")
    parser.add_argument("--bins", type=int, nargs="+", default=[5, 20], help="bin widths in ms (default 5 20)")
    parser.add_argument("--skip-nlb", action="store_true", help="do not run nlb_tools")
    parser.add_argument("--nlb-python", default=os.environ.get("NLB_PYTHON"), help="python with nlb-tools 0.0.4 (default $NLB_PYTHON, else benchmarks/.nlbenv)")
    parser.add_argument("--json", type=Path, default=OUT / "convert.json", help="where to write the figures")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}

    nwb = args.nwb or OUT / ("mc_maze_like.nwb" if args.scale == 1.0 else f"mc_maze_like_{args.scale:g}.nwb")
    if not nwb.exists():
        if args.nwb:
            parser.error(f"--nwb {nwb}: no such file")
        print(f"generating {nwb} (scale {args.scale:g})", file=sys.stderr)
        subprocess.run([sys.executable, str(HERE / "make_mc_maze_like.py"), "--out", str(nwb), "--scale", str(args.scale)],
                       check=True, env=env)
    info = file_summary(nwb)
    floor_s, n_spikes = read_floor(nwb)
    nlb_py = None if args.skip_nlb else nlb_python(args.nlb_python)
    if nlb_py is not None:
        # nlb_tools holds a dense float16 1 ms table of the whole session (190 columns), ~4 copies at its peak
        need = info["session_s"] * 1000 * 190 * 2 * 4.5  # measured: 10.7 GiB on the full-size file
        avail = mem_available()
        if avail is not None and avail < need:
            print(f"only {avail / GIB:.1f} GiB available, nlb_tools needs about {need / GIB:.1f} GiB on this file: "
                  "skipping it (use --scale)", file=sys.stderr)
            nlb_py = None

    import numpy as np

    from nlb_reference import compare_to_reference  # this folder (on sys.path when run as a script)
    from neurodyn.store import open_session

    rows, all_ok = [], True
    with tempfile.TemporaryDirectory(prefix="neurodyn-bench-") as tmp:
        for bin_ms in args.bins:
            spec = spec_for(bin_ms)
            store = Path(tmp) / f"s{bin_ms}.zarr"
            ours = run_measured([sys.executable, "-m", "neurodyn", "convert", "--inputs", f"source={nwb}", "--params", json.dumps(spec),
                                 "--out", str(store)], env=env)
            if ours["returncode"] != 0:
                print(f"neurodyn convert failed: {ours['stderr_tail']}", file=sys.stderr)
                return 1
            row = {"bin_ms": bin_ms, "neurodyn": ours}
            if nlb_py is not None:
                npz = Path(tmp) / f"nlb{bin_ms}.npz"
                theirs = run_measured([str(nlb_py), str(HERE / "nlb_reference.py"), "--worker", "--input", str(nwb),
                                       "--dataset", "mc_maze", "--bin-ms", str(bin_ms), "--out", str(npz)])
                if theirs["returncode"] != 0:
                    print(f"nlb_tools failed: {theirs['stderr_tail']}", file=sys.stderr)
                    return 1
                ds = open_session(store).load()
                ref = dict(np.load(npz))
                ok, lines = compare_to_reference(ds, ref, spec["nlb"])
                theirs["inside_s"] = float(ref["seconds"])
                row.update(nlb_tools=theirs, counts_identical=bool(ok), comparisons=lines)
                all_ok &= bool(ok)
                del ds, ref
                npz.unlink()
            shutil.rmtree(store, ignore_errors=True)
            rows.append(row)

    report = {"machine": machine(), "file": info, "floor_read_spike_times_s": floor_s, "runs": rows,
              "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1))
    print_table(report)
    return 0 if all_ok else 1


def machine() -> dict:
    cpu = ""
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "")
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    ram = None
    try:
        ram = next(int(line.split()[1]) * 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal:"))
    except (OSError, StopIteration):
        pass
    return {"arch": platform.machine(), "cores": os.cpu_count(), "cpu": cpu, "ram_bytes": ram, "load_1min": load,
            "python": platform.python_version()}


def print_table(report: dict) -> None:
    f = report["file"]
    m = report["machine"]
    print(f"machine: {m['arch']}, {m['cores']} cores, {m['cpu']}, {m['ram_bytes'] / GIB:.0f} GiB RAM, load {m['load_1min']:.1f}")
    print(f"file: {f['file']} ({f['bytes'] / 1e6:.0f} MB): {f['units']} units ({f['heldout']} held out), "
          f"{f['trials']} trials, {f['session_s']:.0f} s, {f['spikes']:,} spikes")
    floor = report["floor_read_spike_times_s"]
    print(f"floor: read every spike time {floor * 1000:.1f} ms ({f['spikes'] / floor / 1e6:.0f} M spikes/s)")
    print(f"{'bin':>5}  {'tool':<16}{'wall s':>9}{'M spikes/s':>12}{'peak RSS':>12}  counts")
    for row in report["runs"]:
        ours = row["neurodyn"]
        b = f"{row['bin_ms']} ms"
        print(f"{b:>5}  {'neurodyn convert':<16}{ours['wall_s']:>9.2f}{f['spikes'] / ours['wall_s'] / 1e6:>12.2f}"
              f"{ours['peak_rss_bytes'] / 2**20:>9.0f} MiB  x{ours['wall_s'] / floor:.0f} the floor")
        if "nlb_tools" in row:
            theirs = row["nlb_tools"]
            print(f"{'':>5}  {'nlb_tools':<16}{theirs['wall_s']:>9.2f}{f['spikes'] / theirs['wall_s'] / 1e6:>12.2f}"
                  f"{theirs['peak_rss_bytes'] / 2**20:>9.0f} MiB  {'identical' if row['counts_identical'] else 'MISMATCH'}")
            print(f"{'':>5}  {'ratio':<16}{theirs['wall_s'] / ours['wall_s']:>8.1f}x{'':>12}"
                  f"{theirs['peak_rss_bytes'] / ours['peak_rss_bytes']:>11.1f}x  (goals: 50x faster, 30x less memory)")
            for line in row["comparisons"]:
                if "MATCH" in line and "MISMATCH" not in line:
                    continue
                print(f"      {line}")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
