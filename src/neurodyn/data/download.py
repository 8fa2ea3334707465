"""Fetch one DANDI asset (mirror first, then the archive) and verify size, sha256 and dandi-etag before it appears.

``neurodyn download --asset JSON --dandi JSON [--mirror DIR] [--offline] --out PATH``

``--asset`` is the asset spec from ``SessionSources.asset_spec``: ``dandiset``, ``version`` and ``path``, plus
``asset_id``, ``size``, ``sha256`` and ``etag`` for a pinned or locked asset. ``--dandi`` is the config section
``dandi`` (api_url, timeout_s, retries, backoff_s, chunk_bytes). What happens, in order:

1. ``--out`` already there: re-verified against the pinned digests; nothing is fetched.
2. Mirror: a file with the asset's name and size under ``--mirror`` is **copied** (never linked: a symlink ties
   results to the mirror staying where it is, and a hard link shares one inode with a read-only mirror) to a
   temporary sibling of ``--out``, verified, and renamed into place. A mirror copy whose digest is wrong is
   reported in one line; online the archive is used instead, offline (``--offline``) it is an error.
3. Archive: the asset is resolved with the official ``dandi`` client (``DandiAPIClient(api_url=...)``,
   ``get_dandiset(id, version)``, ``get_asset_by_path``). A pinned asset must agree with the archive's metadata;
   an unpinned one takes its digests from it. The bytes are streamed from ``/assets/{id}/download/`` (302 to
   the blob) into ``<out>.part`` in ``chunk_bytes`` pieces, each request with ``timeout_s``; a dropped
   connection is retried ``retries`` times with exponential back-off from ``backoff_s`` and resumed with an HTTP
   ``Range`` request. ``<out>.part`` survives a network failure so the next run resumes; it is deleted when
   its content fails verification. Only a verified file is renamed to ``--out``.

Exit status: 0 done; 1 the archive or the network failed (one line naming the asset and the URL tried, or the
expected and received digests); 2 bad input (the CLI's InputError line).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from neurodyn.data.paths import contained_raw_path
from neurodyn.errors import InputError
from neurodyn.utils.atomic import atomic_path, mark
from neurodyn.utils.jobargs import add_job_arguments, params_object, parse_job_args

MIB = 1 << 20
# statuses worth another attempt (server busy or a proxy hiccup); other 4xx/5xx answers are final
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class FetchError(Exception):
    """The archive, the network or the bytes let us down (exit 1); bad configuration is InputError (exit 2)."""


class VerifyError(FetchError):
    """A file's size or digest differs from what the archive (or the pin) says it must be."""


# -- what we fetch ----------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class AssetSpec:
    """One DANDI asset. ``version`` None means: the most recent published version, else the draft."""

    dandiset: str
    path: str
    version: str | None = None
    asset_id: str | None = None
    size: int | None = None
    sha256: str | None = None
    etag: str | None = None

    @property
    def label(self) -> str:
        return f"{self.dandiset}/{self.version or 'latest'}/{self.path}"

    @property
    def pinned(self) -> bool:
        return self.sha256 is not None and self.size is not None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "--params asset") -> AssetSpec:
        for key in ("dandiset", "path"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise InputError(where, key, "a non-empty string", got=data.get(key))
        size = data.get("size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise InputError(where, "size", "a byte count (integer >= 0)", got=size)
        for key in ("version", "asset_id", "sha256", "etag"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise InputError(where, key, "a string or null", got=data[key])
        return cls(**{f.name: data.get(f.name) for f in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class DandiSettings:
    """The config section ``dandi`` (see config.yaml); keys the download does not use are ignored."""

    api_url: str = "https://api.dandiarchive.org/api"
    timeout_s: float = 60.0
    retries: int = 6
    backoff_s: float = 2.0
    chunk_bytes: int = 8 * MIB

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "--params dandi") -> DandiSettings:
        values = {}
        for field in dataclasses.fields(cls):
            if field.name not in data:
                continue
            value = data[field.name]
            kind = {"api_url": str, "retries": int, "chunk_bytes": int}.get(field.name, (int, float))
            if not isinstance(value, kind) or isinstance(value, bool):
                raise InputError(where, field.name, f"a {getattr(kind, '__name__', 'number')}", got=value)
            values[field.name] = value
        settings = cls(**values)
        if settings.retries < 1:
            raise InputError(where, "retries", "at least 1", got=settings.retries)
        if settings.chunk_bytes < 1024:
            raise InputError(where, "chunk_bytes", "at least 1024", got=settings.chunk_bytes)
        return settings


# -- digests ----------------------------------------------------------------------------------------------------
def dandi_etag_hasher(size: int):
    """A hashlib-like object (update / hexdigest) for the DANDI etag of a ``size``-byte file.

    The archive's own implementation (``dandischema.digests.dandietag``): the file is cut into parts of 64 MiB
    (more when that would make >= 10,000 parts, ceil(size / 10,000) then), and the etag is
    ``md5(md5(part_1) || ... || md5(part_n)).hexdigest() + "-" + n``. It accepts chunks of any size.
    """
    from dandischema.digests.dandietag import ETagHashlike

    return ETagHashlike(size)


def etag_parts(size: int) -> tuple[int, int]:
    """(number of parts, size of every part but the last) of the DANDI etag of a ``size``-byte file."""
    from dandischema.digests.dandietag import PartGenerator

    parts = PartGenerator.for_file_size(size)
    return len(parts), parts.initial_part_size


def file_digests(path: str | os.PathLike, block: int = 8 * MIB) -> dict[str, Any]:
    """``{"size", "sha256", "etag"}`` of a file, read once."""
    size = os.path.getsize(path)
    sha = hashlib.sha256()
    etag = dandi_etag_hasher(size)
    with open(path, "rb") as f:
        while chunk := f.read(block):
            sha.update(chunk)
            etag.update(chunk)
    return {"size": size, "sha256": sha.hexdigest(), "etag": etag.hexdigest()}


def check_digests(path: Path, spec: AssetSpec, what: str) -> None:
    """Raise VerifyError (asset, field, expected, got) unless the file matches every digest the spec knows."""
    got = file_digests(path)
    for key, name in (("size", "size"), ("sha256", "sha256"), ("etag", "dandi-etag")):
        expected = getattr(spec, key)
        if expected is not None and got[key] != expected:
            raise VerifyError(f"{spec.label}: {what}: {name} expected {expected}, got {got[key]}")


# -- retries ----------------------------------------------------------------------------------------------------
class _Retry(Exception):
    """An attempt failed in a way worth repeating (connection, timeout, 5xx, short read)."""


def _with_retries(settings: DandiSettings, fn: Callable[[], Any], on_fail: Callable[[str], str],
                  *, log=None, sleep: Callable[[float], None] = time.sleep) -> Any:
    """Call ``fn`` up to ``settings.retries`` times; waits double from ``backoff_s``. ``on_fail`` words the error."""
    import requests

    last = ""
    for attempt in range(settings.retries):
        try:
            return fn()
        except (_Retry, requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as err:
            last = _short(err)
        if attempt + 1 < settings.retries:
            wait = settings.backoff_s * 2**attempt
            if log:
                print(f"  attempt {attempt + 1}/{settings.retries} failed ({last}); retrying in {wait:.3g} s", file=log)
            sleep(wait)
    raise FetchError(on_fail(f"{settings.retries} attempt(s), last: {last}"))


def _short(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else err.__class__.__name__
    # urllib3 wraps the useful part ("Connection refused", "Read timed out") deep inside long reprs
    for key in ("Connection refused", "Name or service not known", "Temporary failure in name resolution",
                "timed out", "Connection reset", "IncompleteRead", "Connection broken", "No route to host"):
        if key in text:
            return key
    return text[:160]


# -- the archive ------------------------------------------------------------------------------------------------
def open_client(settings: DandiSettings, what: str, *, log=None):
    """A ``DandiAPIClient`` for ``settings.api_url``, after a bounded probe of ``<api>/info/``.

    The client's own server-info request has no timeout and its requests retry for about a minute; the probe
    (with ``timeout_s``, our retries and back-off) turns an unreachable archive into one clear line instead.
    Every later request of the client gets ``timeout_s`` too.
    """
    import functools

    import requests

    os.environ.setdefault("DANDI_NO_ET", "1")  # the client would otherwise ask etelemetry (network) for news
    api = settings.api_url.rstrip("/")
    info_url = f"{api}/info/"

    def probe():
        response = requests.get(info_url, timeout=settings.timeout_s)
        if response.status_code in RETRY_STATUSES:
            raise _Retry(f"HTTP {response.status_code}")
        if not response.ok:
            raise FetchError(f"{what}: {info_url} answered HTTP {response.status_code}; is dandi.api_url a DANDI API?")

    _with_retries(settings, probe, lambda why: f"{what}: cannot reach the DANDI API at {info_url} ({why})", log=log)
    _route_client_log(log or sys.stderr)
    from dandi.dandiapi import DandiAPIClient

    client = DandiAPIClient(api_url=api)
    client.session.request = functools.partial(client.session.request, timeout=settings.timeout_s)
    return client


class _ClientNotes(logging.Handler):
    """The client's warnings ("Will retry: ...") as indented notes in our log; its errors are dropped because the
    failure is reported once, by us, in one line (Python would otherwise print them bare on stderr)."""

    def __init__(self, stream):
        super().__init__(logging.WARNING)
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.WARNING:
            print(f"  dandi client: {record.getMessage()[:200]}", file=self.stream)


def _route_client_log(stream) -> None:
    logger = logging.getLogger("dandi")
    for handler in [h for h in logger.handlers if isinstance(h, _ClientNotes)]:
        logger.removeHandler(handler)
    logger.addHandler(_ClientNotes(stream))
    logger.propagate = False


def resolve(client, spec: AssetSpec) -> tuple[AssetSpec, str]:
    """Ask the archive about ``spec``: the fully pinned asset and its download URL.

    A pinned spec must agree with the archive (InputError otherwise: the pin in config or the lock file is
    wrong); an unpinned spec takes version, asset_id, size and digests from the archive's metadata.
    """
    import requests
    from dandi.exceptions import NotFoundError

    try:
        dandiset = client.get_dandiset(spec.dandiset, spec.version, lazy=spec.version is None)
        asset = dandiset.get_asset_by_path(spec.path)
        metadata = asset.get_raw_metadata()
        version = dandiset.version_id
    except NotFoundError as err:
        text = str(err).split(". ")[0]
        field = "dandiset" if "Dandiset" in text and "version" not in text else "version" if "version" in text[:20] else "path"
        raise InputError(spec.label, field, f"a {field} that exists in the archive", got=text) from err
    except requests.HTTPError as err:  # the client already retried 5xx answers for about a minute
        status = err.response.status_code if err.response is not None else "?"
        url = err.response.url if err.response is not None else client.api_url
        raise FetchError(f"{spec.label}: the archive answered HTTP {status} for {url}") from err
    digest = metadata.get("digest", {})
    archive = AssetSpec(
        dandiset=spec.dandiset,
        path=spec.path,
        version=version,
        asset_id=asset.identifier,
        size=int(asset.size),
        sha256=digest.get("dandi:sha2-256"),
        etag=digest.get("dandi:dandi-etag"),
    )
    if archive.sha256 is None and archive.etag is None:
        raise FetchError(f"{spec.label}: the archive's metadata has no digest to verify the download against")
    for key in ("version", "asset_id", "size", "sha256", "etag"):
        mine, theirs = getattr(spec, key), getattr(archive, key)
        if mine is not None and theirs is not None and mine != theirs:
            raise InputError(spec.label, key, f"{theirs!r} as the archive says", got=mine)
    return archive, asset.base_download_url


def _transfer(url: str, part: Path, spec: AssetSpec, settings: DandiSettings, *, log, session) -> None:
    """Stream ``url`` into ``part``, resuming from its current length with HTTP Range; retried with back-off."""
    from neurodyn.utils.progress import Progress

    total_mib = max(1, -(-(spec.size or 0) // MIB))
    progress = Progress(total_mib, f"download {spec.dandiset}/{spec.path} (MiB)", every_s=30.0, stream=log)

    def attempt() -> None:
        have = part.stat().st_size if part.exists() else 0
        if spec.size is not None and have > spec.size:  # not a prefix of this asset: start over
            part.unlink()
            have = 0
        if spec.size is not None and have == spec.size:
            return
        headers = {"Range": f"bytes={have}-"} if have else {}
        with session.get(url, headers=headers, stream=True, timeout=settings.timeout_s, allow_redirects=True) as r:
            if r.status_code == 416:  # our .part is already whole (or stale): verification decides
                return
            if r.status_code in RETRY_STATUSES:
                raise _Retry(f"HTTP {r.status_code} from {r.url}")
            if r.status_code >= 400:
                raise FetchError(f"{spec.label}: {url} answered HTTP {r.status_code} ({r.reason})")
            if have and r.status_code != 206:  # the server ignored Range: take the whole body
                have = 0
            elif have and not r.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
                raise _Retry(f"server resumed at the wrong offset ({r.headers.get('Content-Range')!r})")
            if have:
                print(f"  resuming {part.name} at byte {have:,}", file=log)
            with open(part, "ab" if have else "wb") as f:
                for chunk in r.iter_content(chunk_size=settings.chunk_bytes):
                    f.write(chunk)
                    have += len(chunk)
                    progress.update(have // MIB)
                f.flush()
                os.fsync(f.fileno())
        if spec.size is not None and have < spec.size:
            raise _Retry(f"connection closed at byte {have:,} of {spec.size:,}")

    try:
        _with_retries(settings, attempt, lambda why: f"{spec.label}: download from {url} failed ({why})", log=log)
        progress.update(total_mib)  # the closing line, also for files under 1 MiB
    finally:
        progress.close()


# -- the whole fetch --------------------------------------------------------------------------------------------
def _from_mirror(spec: AssetSpec, out: Path, mirror: str | None, *, offline: bool, log) -> bool:
    """Copy a verified mirror file into place; False when there is none (or, online, when it is bad)."""
    from neurodyn.data.mirror import find_in_mirror

    candidate = find_in_mirror(mirror, spec.path, spec.size)
    if candidate is None:
        return False
    try:
        with atomic_path(out) as tmp:
            shutil.copyfile(candidate, tmp)  # verify the copy itself: that is what later stages read
            check_digests(tmp, spec, f"mirror copy {candidate}")
    except VerifyError as err:
        if offline:
            raise
        print(f"neurodyn download: warning: {err}; fetching it from DANDI instead", file=log)
        return False
    print(f"neurodyn download: {spec.label}: copied from the mirror ({candidate}), size, sha256 and dandi-etag verified", file=log)
    return True


def fetch(spec: AssetSpec, out: str | os.PathLike, settings: DandiSettings, *, mirror: str | None = None,
          offline: bool = False, log=None) -> str:
    """Put the verified asset at ``out``. Returns where it came from: ``present``, ``mirror`` or ``dandi``."""
    import requests

    log = log or sys.stderr
    out = Path(out)
    if out.exists():
        if spec.pinned:
            check_digests(out, spec, f"existing file {out}")
            print(f"neurodyn download: {spec.label}: {out} is already there and verified", file=log)
            return "present"
        raise FetchError(f"{spec.label}: {out} exists but the asset is not pinned, so it cannot be verified; "
                         "delete it or run `neurodyn lock`")
    if spec.pinned and _from_mirror(spec, out, mirror, offline=offline, log=log):
        return "mirror"
    if offline:
        where = f"the mirror {mirror}" if mirror else "any mirror (config: mirror is null)"
        if not spec.pinned:
            raise FetchError(f"{spec.label}: offline and not locked (no sha256 to verify a copy against); "
                             f"run `neurodyn lock` online first, or go online to fetch it from {settings.api_url}")
        raise FetchError(f"{spec.label}: offline (config: offline: true) and it is not in {where}; "
                         f"online it would come from {settings.api_url.rstrip('/')}/assets/{spec.asset_id}/download/")

    client = open_client(settings, spec.label, log=log)
    archive, url = _with_retries(settings, lambda: resolve(client, spec),
                                 lambda why: f"{spec.label}: resolving it at {settings.api_url} failed ({why})", log=log)
    if not spec.pinned:
        print(f"neurodyn download: {spec.label}: not pinned; the archive says version {archive.version}, asset "
              f"{archive.asset_id}, sha256 {archive.sha256} (pin it with `neurodyn lock`)", file=log)
        if _from_mirror(archive, out, mirror, offline=False, log=log):
            return "mirror"
    part = out.with_name(out.name + ".part")
    out.parent.mkdir(parents=True, exist_ok=True)
    with requests.Session() as session:
        session.headers["User-Agent"] = "neurodyn-download (https://dandiarchive.org data, CC-BY-4.0)"
        _transfer(url, part, archive, settings, log=log, session=session)
    try:
        check_digests(part, archive, f"downloaded from {url}")
    except VerifyError:
        part.unlink(missing_ok=True)  # a corrupt .part must not be resumed
        raise
    mark(part)
    os.replace(part, out)
    print(f"neurodyn download: {archive.label}: {archive.size:,} bytes from {url}, size, sha256 and dandi-etag verified", file=log)
    return "dandi"


def check_out_path(out: str | os.PathLike, spec: AssetSpec, raw_dir: str | None) -> None:
    """The asset path comes from a config or lock file: it must have DANDI's shape, and ``out`` must be its place
    ``<raw_dir>/<dandiset>/<path>`` (or at least end so, when the caller passes no raw_dir)."""
    expected = contained_raw_path(raw_dir or ".", spec.dandiset, spec.path)
    out = Path(out)
    if raw_dir is not None:
        ok = out.resolve() == expected.resolve()
    else:
        tail = Path(spec.dandiset, spec.path).parts
        ok = out.parts[-len(tail):] == tail
    if not ok:
        raise InputError("--out", "", f"the asset's place under dandi.raw_dir (<raw_dir>/{spec.dandiset}/{spec.path})", got=str(out))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="neurodyn download", description=__doc__.splitlines()[0])
    # inputs: mirror = a local directory searched (by file name and size) before DANDI
    add_job_arguments(parser, inputs={"mirror": "?"},
                      params="JSON: asset (dandiset, version, path[, asset_id, size, sha256, etag]), dandi (the config "
                             "section), offline (never reach the network)",
                      out_help="where the verified file lands (<raw_dir>/<dandiset>/<path>)")
    args = parse_job_args(parser, argv)
    spec = AssetSpec.from_mapping(params_object(args.params, "asset", "the asset spec / the config section dandi"))
    dandi = params_object(args.params, "dandi", "the asset spec / the config section dandi")
    settings = DandiSettings.from_mapping(dandi)
    check_out_path(args.out, spec, dandi.get("raw_dir"))
    try:
        fetch(spec, args.out, settings, mirror=args.inputs["mirror"], offline=bool(args.params.get("offline", False)))
    except FetchError as err:
        print(f"neurodyn download: error: {err}", file=sys.stderr)
        return 1
    return 0
