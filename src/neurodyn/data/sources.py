"""Where each configured session comes from: the glue between config.yaml and the data rules.

A session's ``source`` is one of ``dandi`` (a pinned NLB asset), ``locked`` (an asset of an unpinned dandiset,
pinned by ``neurodyn lock`` in the lock file), ``mirror`` (a non-DANDI file under the local mirror) or
``simulate`` (written by a generator). This module answers, without touching the network: which file the
conversion reads, what the download needs to know, and whether a session can be built offline.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neurodyn.config import check_name
from neurodyn.data.lock import read_lock
from neurodyn.data.mirror import find_in_mirror
from neurodyn.data.paths import contained, contained_raw_path
from neurodyn.errors import InputError
from neurodyn.utils.seed import derive_seed


class SessionSources:
    def __init__(self, config: Mapping[str, Any]):
        self.config = config
        from neurodyn.data.families import family_sessions

        # simulated families declared in a paper's section (data/families.py) count as configured sessions
        self.sessions = {**family_sessions(config), **config["sessions"]}
        self.raw_dir = Path(config["dandi"]["raw_dir"])
        self.mirror = config.get("mirror")
        self._lock = read_lock(config["dandi"]["lock_file"])  # checked now: a bad lock file stops the plan
        for name in self.sessions:  # every path a session names, checked before any job is planned
            check_name(name, "config", f"sessions.{name}")
            if self.kind(name) != "simulate":
                self.input_file(name)

    # -- lookups ---------------------------------------------------------------------------------------------
    def spec(self, session: str) -> Mapping[str, Any]:
        if session not in self.sessions:
            raise InputError("config", f"sessions.{session}", f"a configured session (one of {', '.join(sorted(self.sessions))})")
        return self.sessions[session]

    def kind(self, session: str) -> str:
        return next(iter(self.spec(session)["source"]))

    def lock(self) -> dict[str, Any]:
        return self._lock

    def raw_path(self, dandiset: str, asset_path: str) -> Path:
        """Where a download lands: ``raw_dir/<dandiset>/<asset path>``, refused unless it stays under raw_dir."""
        return contained_raw_path(self.raw_dir, dandiset, asset_path)

    def unpinned(self) -> dict[str, Any]:
        return dict(self.config.get("unpinned", {}))

    def asset_spec(self, dandiset: str, path: str) -> dict[str, Any]:
        """Everything the download knows about an asset: pinned digests, locked digests, or only its name."""
        for name, dataset in self.config["datasets"].items():
            if dataset["dandiset"] != dandiset:
                continue
            for asset in dataset["assets"].values():
                if asset["path"] == path:
                    return {"dandiset": dandiset, "version": dataset["version"], **asset}
        locked = self.lock().get("assets", {}).get(f"{dandiset}/{path}")
        if locked:
            return {"dandiset": dandiset, **locked}
        # not locked yet: the download resolves it (null version = most recent published, else draft) and
        # verifies against the archive's own digests
        version = self.unpinned().get(dandiset, {}).get("version")
        return {"dandiset": dandiset, "version": version, "path": path}

    def _dandi_asset(self, session: str) -> dict[str, Any]:
        source = self.spec(session)["source"]
        if "dandi" in source:
            dataset = self.config["datasets"][source["dandi"]["dataset"]]
            asset = dataset["assets"][source["dandi"]["asset"]]
            return {"dandiset": dataset["dandiset"], "version": dataset["version"], **asset}
        locked = source["locked"]
        return self.asset_spec(locked["dandiset"], locked["path"])

    def input_file(self, session: str) -> str | list[str]:
        kind = self.kind(session)
        if kind in ("dandi", "locked"):
            asset = self._dandi_asset(session)
            try:
                return str(self.raw_path(asset["dandiset"], asset["path"]))
            except InputError as err:
                raise InputError("config", f"sessions.{session}.source ({asset['dandiset']}/{asset['path']})", err.expected) from None
        if kind == "mirror":
            root = Path(self.mirror) if self.mirror else Path("MIRROR-NOT-CONFIGURED")
            files = [str(contained(root, f, "config", f"sessions.{session}.source.mirror.file")) for f in self.mirror_files(session)]
            return files[0] if len(files) == 1 else files
        return f"results/simulated/{session}.nwb"

    def mirror_files(self, session: str) -> list[str]:
        """The mirror-relative file(s) of a mirror session (``file`` may list several, e.g. excerpts)."""
        file = self.spec(session)["source"]["mirror"]["file"]
        return [file] if isinstance(file, str) else list(file)

    def simulation(self, session: str) -> Mapping[str, Any]:
        source = self.spec(session)["source"]
        if "simulate" not in source:
            raise InputError("config", f"sessions.{session}.source", "a simulate source")
        return source["simulate"]

    def seed_for(self, session: str) -> int:
        return derive_seed(self.config["seed"], "session", session)

    def convert_spec(self, session: str) -> dict[str, Any]:
        """The conversion's whole input contract, passed to `neurodyn convert --spec`."""
        spec = self.spec(session)
        out: dict[str, Any] = {"name": session, "bin_ms": spec["bin_ms"], "kind": self.kind(session)}
        if "nlb" in spec:
            out["nlb"] = {"name": spec["nlb"], **self.config["nlb"][spec["nlb"]]}
        for key in ("window_ms", "align_event", "move_onset"):
            if key in spec:
                out[key] = spec[key]
        if "split" in spec:
            out["split"] = spec["split"]
            out["seed"] = derive_seed(self.config["seed"], "split", session)
        kind = out["kind"]
        if kind in ("dandi", "locked"):
            out["format"] = "nwb"
            out["provenance"] = self._dandi_asset(session)
        elif kind == "mirror":
            mirror = spec["source"]["mirror"]
            out["format"] = mirror["format"]
            out["provenance"] = {"mirror_file": mirror["file"], "sha256": mirror["sha256"], "role": mirror.get("role")}
        else:
            sim = spec["source"]["simulate"]
            out["format"] = "nwb"
            out["provenance"] = {"simulator": sim["generator"], "params": sim["params"], "seed": self.seed_for(session)}
        return out

    # -- availability ----------------------------------------------------------------------------------------
    def unavailable_reason(self, session: str) -> str | None:
        """None when the session can be built here; otherwise why not (offline without a mirror copy, ...)."""
        kind = self.kind(session)
        if kind == "simulate":
            return None
        if kind == "mirror":
            mirror = self.spec(session)["source"]["mirror"]
            if not self.mirror or not Path(self.mirror).is_dir():
                return f"its file {mirror['file']} comes from a local mirror and none is configured (config: mirror)"
            for file in self.mirror_files(session):
                if not (Path(self.mirror) / file).exists():
                    return f"{file} is not in the mirror {self.mirror}"
            return None
        asset = self._dandi_asset(session)
        if Path(self.input_file(session)).exists():
            return None
        if self.config.get("offline"):
            if not asset.get("sha256"):
                return (f"offline and {asset['dandiset']}/{asset['path']} is not locked, so no copy can be verified "
                        "(run `neurodyn lock` online first)")
            if find_in_mirror(self.mirror, asset["path"], asset.get("size")):
                return None
            return f"offline and {asset['dandiset']}/{asset['path']} is neither downloaded nor in the mirror"
        return None
