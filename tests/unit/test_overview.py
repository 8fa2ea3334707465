"""`neurodyn overview figure|table` on stores made with store.make_session."""

from __future__ import annotations

import csv

import numpy as np

from neurodyn import cli
from neurodyn import store as st
from neurodyn.report import overview


def _reach_store(path, *, n_trial=48, n_unit=24, conditions=8, behaviour=True, heldout=6, seed=0):
    rng = np.random.default_rng(seed)
    time_ms = np.arange(-100.0, 200.0, 10.0)
    t = time_ms + 5.0
    cond = np.arange(n_trial) % conditions
    theta = cond * 2 * np.pi / conditions
    pref = rng.uniform(0, 2 * np.pi, n_unit)
    env = np.exp(-0.5 * ((t - 50) / 60) ** 2)
    hz = 10 + 20 * env[None, :, None] * (1 + np.cos(theta[:, None, None] - pref[None, None, :]))
    spikes = rng.poisson(hz * 0.01).astype(np.float32)
    spikes[1, 20:, :] = np.nan
    vel = np.stack([np.cos(theta)[:, None] * env, np.sin(theta)[:, None] * env], -1) * 200
    ds = st.make_session(
        name=path.stem, spikes=spikes, bin_ms=10, time_ms=time_ms, align_event="move_onset_time",
        source={"dandiset": "000140", "version": "0.220113.0408", "path": "sub-Jenkins/x.nwb"},
        heldout=np.arange(n_unit) < heldout, split=np.where(np.arange(n_trial) % 4 == 0, "val", "train"),
        condition=cond, behaviour={"hand_vel": (vel, ["x", "y"])} if behaviour else None,
    )
    return st.write_session(ds, path)


def _texts(fig):
    found = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    return "\n".join(found)


def test_figure_and_table_commands_write_files(tmp_path):
    store = _reach_store(tmp_path / "reach.zarr")
    pdf, png = tmp_path / "f" / "reach.pdf", tmp_path / "f" / "reach.png"
    argv = ["overview", "figure", "--inputs", f"session={store}", "--params", '{"trials": 5}', "--out", f"pdf={pdf}", f"png={png}"]
    assert cli.main(argv) == 0
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 10_000
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 10_000
    first = (pdf.read_bytes(), png.read_bytes())
    assert cli.main(argv) == 0
    assert (pdf.read_bytes(), png.read_bytes()) == first  # no timestamps: identical reruns
    assert b"CreationDate" not in pdf.read_bytes()

    csv_path, md_path = tmp_path / "t" / "datasets.csv", tmp_path / "t" / "datasets.md"
    other = _reach_store(tmp_path / "sim.zarr", conditions=1, behaviour=False, heldout=0)
    assert cli.main(["overview", "table", "--inputs", f"sessions={store}", str(other), "--out", f"csv={csv_path}",
                     f"md={md_path}"]) == 0
    rows = list(csv.DictReader(csv_path.open()))
    assert [r["session"] for r in rows] == ["reach", "sim"]
    assert rows[0]["origin"] == "000140/0.220113.0408" and rows[0]["licence"] == "CC-BY-4.0"
    assert rows[0]["trials_by_split"] == "train 36 / val 12"
    assert (rows[0]["heldin_units"], rows[0]["heldout_units"]) == ("18", "6")
    assert rows[0]["behaviour"] == "hand_vel (x,y)" and rows[1]["behaviour"] == "none"
    assert rows[0]["window_ms"] == "-100…200" and rows[0]["bin_ms"] == "10"
    md = md_path.read_text()
    assert md.count("\n") == 4 and "| reach |" in md


def test_figure_content_says_what_is_missing(tmp_path):
    full = st.open_session(_reach_store(tmp_path / "full.zarr"))
    fig = overview.render_overview(full, trials=3)
    text = _texts(fig)
    assert "48 trials × 30 bins (10 ms) × 24 units (18 held-in, 6 held-out)" in text
    assert "DANDI 000140/0.220113.0408" in text and "hand_vel x" in text and "8 conditions" in text
    assert "6 held-out units not shown" in text

    bare = st.open_session(_reach_store(tmp_path / "bare.zarr", conditions=1, behaviour=False, heldout=0))
    text = _texts(overview.render_overview(bare, trials=100))  # more trials than the store: all of them
    assert "no behaviour variables in this session store" in text
    assert "no conditions" in text
    assert "first 48 of 48 trials" in text


def test_many_conditions_and_observation_only_stores_render(tmp_path):
    many = st.open_session(_reach_store(tmp_path / "many.zarr", n_trial=60, conditions=20))
    assert "20 conditions" in _texts(overview.render_overview(many, trials=2))
    rng = np.random.default_rng(1)
    obs = st.make_session(name="ball", spikes=np.zeros((4, 6, 1)), bin_ms=20, time_ms=np.arange(6) * 20.0,
                          align_event="start_time", source={"simulator": "rotating_ball"}).drop_vars("spikes")
    obs["observations"] = (("trial", "time", "channel"), rng.random((4, 6, 16)).astype(np.float32))
    fig = overview.render_overview(obs, trials=2)
    assert "no spike counts in this store" in _texts(fig)
    overview.write_figure(fig, tmp_path / "ball.pdf", tmp_path / "ball.png")
    assert (tmp_path / "ball.png").exists()


def test_bad_input_is_one_line_and_leaves_nothing(tmp_path, capsys):
    out = tmp_path / "x.pdf"
    code = cli.main(["overview", "figure", "--inputs", f"session={tmp_path / 'missing.zarr'}", "--params", '{"trials": 3}',
                     "--out", f"pdf={out}", f"png={tmp_path / 'x.png'}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "missing.zarr" in err and "error:" in err
    assert list(tmp_path.iterdir()) == []
    store = _reach_store(tmp_path / "ok.zarr")
    code = cli.main(["overview", "figure", "--inputs", f"session={store}", "--params", '{"trials": 0}', "--out", f"pdf={out}"])
    assert code == 2 and "--params: trials" in capsys.readouterr().err and not out.exists()
    code = cli.main(["overview", "figure", "--inputs", f"session={store}", "--params", '{"trials": 3, "smooth_ms": -1}', "--out", f"pdf={out}"])
    assert code == 2 and "--params: smooth_ms" in capsys.readouterr().err and not out.exists()
    (tmp_path / "broken.zarr").mkdir()
    code = cli.main(["overview", "table", "--inputs", f"sessions={tmp_path / 'broken.zarr'}", "--out",
                     f"csv={tmp_path / 't.csv'}", f"md={tmp_path / 't.md'}"])
    assert code == 2 and not (tmp_path / "t.csv").exists() and not (tmp_path / "t.md").exists()


def test_empty_table_says_so(tmp_path):
    assert cli.main(["overview", "table", "--out", f"csv={tmp_path / 't.csv'}", f"md={tmp_path / 't.md'}"]) == 0
    assert "no session stores" in (tmp_path / "t.md").read_text()
    assert (tmp_path / "t.csv").read_text().startswith("session,")
