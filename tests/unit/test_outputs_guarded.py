"""``--out`` never destroys what neurodyn did not write; replacing an output is atomic; SIGTERM leaves nothing.

And a run's resume state belongs to the inputs it was trained on: a store that changed since the checkpoint
starts training afresh.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from neurodyn.cli import main as cli
from neurodyn.errors import InputError
from neurodyn.runrecord import RunRecord, fingerprint
from neurodyn.simulate.nwb_writer import write_nwb
from neurodyn.simulate.poisson_lds import simulate
from neurodyn.store import make_session, open_session, write_session
from neurodyn.utils.atomic import atomic_path, check_replaceable, write_text, written_by_neurodyn
from tests.unit.test_convert_bad_inputs import PARAMS, spec

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def good_nwb(tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "good.nwb"
    write_nwb(simulate(PARAMS, 1), path, seed=1, generator="poisson-lds")
    return path


def _convert(inp: Path, out: Path, **over) -> int:
    return cli(["convert", "--inputs", "source=" + str(inp), "--params", json.dumps(spec(**over)), "--out", str(out)])


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("neurodyn convert: error: "), err
    return err


# -- --out refuses what is not neurodyn's ------------------------------------------------------------------------
def test_a_users_folder_is_never_replaced(good_nwb, tmp_path, capsys):
    mine = tmp_path / "my-analysis"
    mine.mkdir()
    (mine / "notes.txt").write_text("three months of work")
    assert _convert(good_nwb, mine) == 2
    assert "has no neurodyn mark, so it is not replaced" in _one_line(capsys)
    assert (mine / "notes.txt").read_text() == "three months of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my-analysis"]  # no temporary left either


def test_a_users_file_is_never_replaced(good_nwb, tmp_path, capsys):
    mine = tmp_path / "table.csv"
    mine.write_text("a,b\n1,2\n")
    assert _convert(good_nwb, mine) == 2
    assert "this file has no neurodyn mark" in _one_line(capsys)
    assert mine.read_text() == "a,b\n1,2\n"


def test_a_link_is_never_replaced(good_nwb, tmp_path, capsys):
    target = tmp_path / "elsewhere"
    target.mkdir()
    link = tmp_path / "s.zarr"
    link.symlink_to(target)
    assert _convert(good_nwb, link) == 2
    assert "this link has no neurodyn mark" in _one_line(capsys)
    assert link.is_symlink() and target.is_dir()


@pytest.mark.parametrize("where", ["input", "parent"])
def test_out_may_not_be_or_hold_an_input(good_nwb, tmp_path, capsys, where):
    inp = tmp_path / "data" / "in.nwb"
    inp.parent.mkdir()
    inp.write_bytes(good_nwb.read_bytes())
    out = inp if where == "input" else inp.parent
    assert _convert(inp, out) == 2
    assert "that is not one of the command's inputs" in _one_line(capsys)
    assert inp.read_bytes() == good_nwb.read_bytes()


def test_a_store_neurodyn_wrote_is_replaced(good_nwb, tmp_path):
    out = tmp_path / "s.zarr"
    assert _convert(good_nwb, out) == 0
    assert written_by_neurodyn(out) and open_session(out).attrs["written_by"] == "neurodyn"
    assert _convert(good_nwb, out, bin_ms=20) == 0
    assert open_session(out).attrs["bin_ms"] == 20
    assert [p.name for p in tmp_path.iterdir()] == ["s.zarr"]  # the old copy, set aside, is gone


def test_store_from_before_the_mark_is_still_recognised(good_nwb, tmp_path):
    out = tmp_path / "s.zarr"
    assert _convert(good_nwb, out) == 0
    os.removexattr(out, "user.neurodyn")
    (out / ".neurodyn").unlink()
    attrs = json.loads((out / ".zattrs").read_text())
    attrs.pop("written_by")
    (out / ".zattrs").write_text(json.dumps(attrs))
    assert written_by_neurodyn(out)  # converter_version + name: a neurodyn store of an earlier version
    assert _convert(good_nwb, out) == 0


def test_files_are_marked_and_replaced(tmp_path):
    path = tmp_path / "t.md"
    write_text(path, "one")
    assert written_by_neurodyn(path)
    write_text(path, "two")
    assert path.read_text() == "two"


def test_two_writers_of_one_store_both_succeed(good_nwb, tmp_path):
    """Concurrent conversions to the same path (two Snakemake runs, a retry beside a straggler): no crash, and the
    result is one whole store, never a mixture."""
    out = tmp_path / "s.zarr"
    assert _convert(good_nwb, out) == 0
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cmds = [[sys.executable, "-m", "neurodyn", "convert", "--inputs", "source=" + str(good_nwb), "--params", json.dumps(spec(bin_ms=b)),
             "--out", str(out)] for b in (10, 20, 10, 20)]
    procs = [subprocess.Popen(c, env=env, stderr=subprocess.PIPE, text=True) for c in cmds]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    ds = open_session(out).load()
    assert ds.attrs["bin_ms"] in (10, 20) and ds.sizes["time"] == 300 // ds.attrs["bin_ms"]
    assert [p.name for p in tmp_path.iterdir()] == ["s.zarr"]


def test_swap_in_never_shows_a_half_store(tmp_path):
    """While a store is replaced, a reader sees the old store or the new one, whole."""
    out = tmp_path / "s.zarr"

    def store(value: float) -> None:
        ds = make_session(name="s", spikes=np.full((4, 3, 2), value), bin_ms=10, time_ms=np.arange(3) * 10.0,
                          align_event="e", source={"simulator": "test"})
        write_session(ds, out)

    store(1.0)
    with atomic_path(out) as tmp:
        ds = make_session(name="s", spikes=np.full((4, 3, 2), 2.0), bin_ms=10, time_ms=np.arange(3) * 10.0,
                          align_event="e", source={"simulator": "test"})
        ds.to_zarr(tmp, mode="w", consolidated=True, zarr_format=2)
        assert float(open_session(out).spikes.values.mean()) == 1.0  # the old one stays whole until the swap
    assert float(open_session(out).spikes.values.mean()) == 2.0


# -- SIGTERM ---------------------------------------------------------------------------------------------------
def test_sigterm_during_conversion_removes_its_temporary_store(good_nwb, tmp_path):
    """The conversion is stopped while it writes the store (a real `neurodyn convert`, its spikes writer made to
    wait): exit 128 + 15, one line, and neither the store nor its `.NAME.tmp-PID` sibling remains."""
    out = tmp_path / "s.zarr"
    ready = tmp_path / "ready"
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from neurodyn.data import convert as c
        real = c.CompactCounts.filler
        def slow_filler(self, *a):
            fill = real(self, *a)
            def waiting(tmp, chunks):
                fill(tmp, chunks)
                Path({str(ready)!r}).write_text(str(tmp))
                time.sleep(60)
            return waiting
        c.CompactCounts.filler = slow_filler
        from neurodyn.cli import main
        sys.exit(main(sys.argv[1:]))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script, "convert", "--inputs", "source=" + str(good_nwb), "--params", json.dumps(spec()),
                             "--out", str(out)], env={**os.environ, "PYTHONPATH": str(SRC)}, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() is not None else "timeout"
            time.sleep(0.05)
        tmp = Path(ready.read_text())
        assert tmp.is_dir() and tmp.name.startswith(".s.zarr.tmp-")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM
    assert err.strip().splitlines() == ["neurodyn convert: stopped by SIGTERM; its unfinished output was removed"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ready"]


# -- resume keyed on the inputs --------------------------------------------------------------------------------
def _tiny_store(path: Path, value: float) -> Path:
    ds = make_session(name="s", spikes=np.full((2, 3, 2), value), bin_ms=10, time_ms=np.arange(3) * 10.0,
                      align_event="e", source={"simulator": "test"}, attrs={"fingerprint": f"content-{value}"})
    return write_session(ds, path)


def test_resume_state_is_dropped_when_an_input_store_changed(tmp_path):
    store = _tiny_store(tmp_path / "in.zarr", 1.0)
    out = tmp_path / "run"
    first = RunRecord(out, {"lr": 0.1}, seed=1, inputs=[store])
    first.save_torch(first.resume_path.name, {"step": 5})
    assert RunRecord(out, {"lr": 0.1}, seed=1, inputs=[store]).resume_path.exists()
    _tiny_store(store, 2.0)  # re-converted: another fingerprint
    again = RunRecord(out, {"lr": 0.1}, seed=1, inputs=[store])
    assert not again.resume_path.exists()
    again.finish({"x": 1.0})
    run = json.loads((out / "run.json").read_text())
    assert run["inputs"] == {str(store): "content-2.0"} and run["written_by"] == "neurodyn"
    assert "resumed_from" not in run


def test_fingerprint_of_a_converted_store_follows_its_source(good_nwb, tmp_path):
    a, b = tmp_path / "a.zarr", tmp_path / "b.zarr"
    assert _convert(good_nwb, a) == 0 and _convert(good_nwb, b) == 0
    assert fingerprint(a) == fingerprint(b)  # same bytes, same spec
    assert _convert(good_nwb, b, bin_ms=20) == 0
    assert fingerprint(a) != fingerprint(b)


def test_run_record_refuses_a_users_folder_and_its_inputs(tmp_path):
    mine = tmp_path / "results-of-mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="has no neurodyn mark"):
        RunRecord(mine, {}, seed=0)
    partial = tmp_path / "run.partial"
    partial.mkdir()
    (partial / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="run record's working folder"):
        RunRecord(tmp_path / "run", {}, seed=0)
    assert (mine / "keep.txt").exists() and (partial / "keep.txt").exists()
    store = _tiny_store(tmp_path / "in.zarr", 1.0)
    with pytest.raises(InputError, match="not one of the command's inputs"):
        RunRecord(store, {}, seed=0, inputs=[store])


def test_check_replaceable_allows_a_free_path(tmp_path):
    check_replaceable(tmp_path / "new.zarr", [tmp_path / "in.nwb"])
