"""Resolve the unpinned dandisets' assets through the DANDI API into the lock file (version, id, size, digests).

``neurodyn lock --unpinned JSON --dandi JSON --out config/dandi.lock.yaml``

``--unpinned`` is the config section ``unpinned``: per dandiset an optional ``version`` (null: the most recent
published version, else the draft) and the asset ``paths`` the papers use. Each asset is looked up with the
official ``dandi`` client and written as

    assets:
      "<dandiset>/<path>": {path, version, asset_id, size, sha256, etag}

which ``SessionSources.asset_spec`` reads, so every later download of a locked asset is pinned and verified like
the NLB assets in config.yaml. The file is written atomically; an unreachable archive leaves the old lock file
untouched and prints one line naming the URL. This is a command run on purpose (online, once), not a step of
every run: commit the lock file so that a year from now the same bytes are fetched (see the README).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from neurodyn.config import ROOT, check_asset_path, load_schema, read_config_file, validate
from neurodyn.errors import InputError
from neurodyn.utils.atomic import write_text
from neurodyn.utils.jobargs import add_job_arguments, params_object, parse_job_args

HEADER = """\
# DANDI lock file — written by `neurodyn lock` (snakemake --cores 1 {out}); do not edit by hand.
# Pins every asset of the unpinned dandisets in config.yaml (section `unpinned`) to one version, asset id,
# size, sha256 and dandi-etag, so downloads of these assets are verified exactly like the NLB assets.
"""


LOCK_SCHEMA = ROOT / "workflow" / "schemas" / "lock.schema.yaml"


def read_lock(path: str | Path) -> dict[str, Any]:
    """The lock file, checked: its schema, and each entry's ``path`` equal to its key's path part.

    A missing file is an empty lock (nothing pinned yet). Every problem is one InputError naming the key.
    """
    path = Path(path)
    if not path.exists():
        return {}
    doc = read_config_file(path)
    if not doc:
        return {}
    validate(doc, where=str(path), schema=load_schema(LOCK_SCHEMA))
    for key, entry in doc["assets"].items():
        dandiset, _, asset_path = key.partition("/")
        if entry["path"] != asset_path:
            raise InputError(path, f"assets.{key}.path", f"the asset path of its key ({asset_path!r})", got=entry["path"])
        check_asset_path(entry["path"], str(path), f"assets.{key}.path")
    return doc


def _check_unpinned(unpinned: Mapping[str, Any], where: str) -> None:
    for dandiset, entry in unpinned.items():
        if not (isinstance(dandiset, str) and len(dandiset) == 6 and dandiset.isdigit()):
            raise InputError(where, dandiset, "a 6-digit dandiset identifier")
        if not isinstance(entry, Mapping):
            raise InputError(where, dandiset, "an object with assets (and version)", got=entry)
        paths = entry.get("assets")
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            raise InputError(where, f"{dandiset}.assets", "a non-empty list of asset paths", got=paths)
        version = entry.get("version")
        if version is not None and not isinstance(version, str):
            raise InputError(where, f"{dandiset}.version", "a version string or null", got=version)


def lock(unpinned: Mapping[str, Any], settings, *, log=None) -> dict[str, Any]:
    """The lock file's content for ``unpinned`` (config section), resolved through the archive."""
    from neurodyn.data.download import AssetSpec, _with_retries, open_client, resolve

    log = log or sys.stderr
    _check_unpinned(unpinned, "--params unpinned")
    client = open_client(settings, "neurodyn lock", log=log)
    assets: dict[str, Any] = {}
    versions: dict[str, str] = {}
    for dandiset, entry in sorted(unpinned.items()):
        for path in entry["assets"]:
            check_asset_path(path, where="--params unpinned", field=f"{dandiset}.assets")
            spec = AssetSpec(dandiset=dandiset, path=path, version=entry.get("version"))
            archive, _url = _with_retries(
                settings, lambda spec=spec: resolve(client, spec),
                lambda why, spec=spec: f"{spec.label}: resolving it at {settings.api_url} failed ({why})", log=log,
            )
            versions[dandiset] = archive.version
            assets[f"{dandiset}/{path}"] = {
                "path": path,
                "version": archive.version,
                "asset_id": archive.asset_id,
                "size": archive.size,
                "sha256": archive.sha256,
                "etag": archive.etag,
            }
            print(f"neurodyn lock: {archive.label}: {archive.size:,} bytes, sha256 {archive.sha256}", file=log)
    return {
        "api_url": settings.api_url,
        "locked_at": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "dandisets": {k: {"version": v} for k, v in sorted(versions.items())},
        "assets": assets,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn lock", description=__doc__.splitlines()[0])
    add_job_arguments(parser, params="JSON: unpinned and dandi, the config sections", out_help="the lock file (config: dandi.lock_file)")
    args = parse_job_args(parser, argv)
    from neurodyn.data.download import DandiSettings, FetchError

    unpinned = params_object(args.params, "unpinned", "the config section")
    settings = DandiSettings.from_mapping(params_object(args.params, "dandi", "the config section"))
    try:
        content = lock(unpinned, settings)
    except FetchError as err:
        print(f"neurodyn lock: error: {err}", file=sys.stderr)
        return 1
    text = HEADER.format(out=args.out) + yaml.safe_dump(content, sort_keys=False, width=200)
    write_text(args.out, text)
    print(f"neurodyn lock: wrote {len(content['assets'])} assets to {args.out}", file=sys.stderr)
    return 0
