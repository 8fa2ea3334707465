"""A loopback HTTP server that speaks enough of the DANDI REST API for the official client and our downloader.

It serves, from ``dandi-metadata/<id>/assets.json`` (the archive's own asset metadata) and real files:

- ``GET /api/info/`` (version, services.api.url, cli-minimal-version, cli-bad-versions); ``/server-info`` is 404,
  as on the real archive, so the client falls back to ``/api/info/``;
- ``GET /api/dandisets/{id}/`` and ``/api/dandisets/{id}/versions/{v}/info/``;
- ``GET /api/dandisets/{id}/versions/{v}/assets/?path=<prefix>&page_size=N&page=K`` (paginated, ``next`` is the
  same URL with ``page=2``, ``3``, ... as the archive does);
- ``GET /api/dandisets/{id}/versions/{v}/assets/{asset_id}/`` (the asset's metadata);
- ``GET /api/assets/{asset_id}/download/`` → 302 to ``/blobs/{b[0:3]}/{b[3:6]}/{b}``, which serves the file's
  bytes with ``Range: bytes=N-`` support (206 + Content-Range).

Faults for tests: ``drop_after`` (bytes) makes the next blob response stop after that many bytes and close the
connection (once); ``corrupt_at`` flips one byte of every blob response at that offset; ``busy_blobs`` answers
that many blob requests with 503 first. ``requests`` counts what
was asked (path + Range). Bound to 127.0.0.1 on a free port, in a daemon thread; ``stop()`` (or leaving the
``with`` block) shuts it down, and ``max_s`` stops it anyway, so a stuck test never leaves it running.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SERVER_VERSION = "0.4.0"


class DandiLoopback:
    def __init__(self, metadata_dir: Path, files: dict[str, Path], *, page_size: int = 1,
                 published: dict[str, str] | None = None, max_s: float = 60.0):
        """``metadata_dir``: ``dandi-metadata/`` with ``<id>/assets.json``; ``files``: asset_id → real file;
        ``published``: dandiset → its published version (assets are listed under it and under ``draft``)."""
        self.assets: dict[str, list[dict[str, Any]]] = {}
        for sub in sorted(Path(metadata_dir).iterdir()):
            if (sub / "assets.json").exists():
                self.assets[sub.name] = json.loads((sub / "assets.json").read_text())
        self.files = dict(files)
        self.page_size = page_size
        self.published = dict(published or {})
        self.drop_after: int | None = None
        self.corrupt_at: int | None = None
        self.busy_blobs = 0  # answer this many blob requests with 503 first
        self.requests: list[tuple[str, str | None]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.api_url = f"{self.base}/api"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._timer = threading.Timer(max_s, self.stop)
        self._timer.daemon = True

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def start(self) -> DandiLoopback:
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        self._timer.cancel()
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> DandiLoopback:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- data -----------------------------------------------------------------------------------------------------
    def _asset(self, asset_id: str) -> tuple[str, dict[str, Any]] | None:
        for dandiset, assets in self.assets.items():
            for asset in assets:
                if asset["asset_id"] == asset_id:
                    return dandiset, asset
        return None

    def _version(self, dandiset: str, version: str) -> dict[str, Any]:
        assets = self.assets[dandiset]
        return {
            "version": version,
            "name": f"dandiset {dandiset}",
            "asset_count": len(assets),
            "size": sum(a["size"] for a in assets),
            "created": "2021-09-02T20:37:33.939361Z",
            "modified": "2022-01-13T04:08:26.765736Z",
            "status": "Published" if version != "draft" else "Valid",
        }

    def _versions(self, dandiset: str) -> list[str]:
        return ["draft"] + ([self.published[dandiset]] if dandiset in self.published else [])

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def _json(self, obj: Any, status: int = 200) -> None:
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _not_found(self) -> None:
                self._json({"detail": "Not found."}, 404)

            def do_HEAD(self):
                self._route(head=True)

            def do_GET(self):
                self._route(head=False)

            def _route(self, head: bool) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                with server._lock:
                    server.requests.append((url.path, self.headers.get("Range")))
                p = url.path
                if p == "/api/info/":
                    return self._json({
                        "schema_version": "0.6.4",
                        "version": SERVER_VERSION,
                        "services": {"api": {"url": server.api_url}, "webui": {"url": server.base}},
                        "cli-minimal-version": "0.60.0",
                        "cli-bad-versions": [],
                    })
                if m := re.fullmatch(r"/api/dandisets/(\d{6})/", p):
                    dandiset = m[1]
                    if dandiset not in server.assets:
                        return self._not_found()
                    published = server.published.get(dandiset)
                    return self._json({
                        "identifier": dandiset,
                        "created": "2021-09-02T20:37:33.939361Z",
                        "modified": "2022-01-13T04:08:26.765736Z",
                        "contact_person": "Pei, Felix",
                        "embargo_status": "OPEN",
                        "most_recent_published_version": server._version(dandiset, published) if published else None,
                        "draft_version": server._version(dandiset, "draft"),
                    })
                if m := re.fullmatch(r"/api/dandisets/(\d{6})/versions/([^/]+)/info/", p):
                    if m[1] not in server.assets or m[2] not in server._versions(m[1]):
                        return self._not_found()
                    return self._json({**server._version(m[1], m[2]), "asset_validation_errors": [],
                                       "version_validation_errors": [], "metadata": {}})
                if m := re.fullmatch(r"/api/dandisets/(\d{6})/versions/([^/]+)/assets/", p):
                    if m[1] not in server.assets or m[2] not in server._versions(m[1]):
                        return self._not_found()
                    return self._page(m[1], query, url)
                if m := re.fullmatch(r"/api/dandisets/(\d{6})/versions/([^/]+)/assets/([0-9a-f-]{36})/", p):
                    found = server._asset(m[3])
                    if not found or found[0] != m[1] or m[2] not in server._versions(m[1]):
                        return self._not_found()
                    return self._json(found[1]["metadata"])
                if m := re.fullmatch(r"/api/assets/([0-9a-f-]{36})/download/", p):
                    found = server._asset(m[1])
                    if not found:
                        return self._not_found()
                    blob = found[1]["blob"]
                    self.send_response(302)
                    self.send_header("Location", f"{server.base}/blobs/{blob[:3]}/{blob[3:6]}/{blob}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                if m := re.fullmatch(r"/blobs/[0-9a-f]{3}/[0-9a-f]{3}/([0-9a-f-]{36})", p):
                    return self._blob(m[1], head)
                return self._not_found()

            def _page(self, dandiset: str, query: dict[str, str], url) -> None:
                prefix = query.get("path", "")
                rows = sorted((a for a in server.assets[dandiset] if a["path"].startswith(prefix)), key=lambda a: a["path"])
                size = int(query.get("page_size", server.page_size))
                page = int(query.get("page", 1))
                chunk = rows[(page - 1) * size: page * size]
                nxt = None
                if page * size < len(rows):
                    q = dict(query, page=str(page + 1))
                    nxt = f"{server.base}{url.path}?{urllib.parse.urlencode(q)}"
                results = [{k: a[k] for k in ("asset_id", "blob", "path", "size", "created", "modified")} | {"zarr": None}
                           for a in chunk]
                return self._json({"count": len(rows), "next": nxt, "previous": None, "results": results})

            def _blob(self, blob: str, head: bool) -> None:
                found = next(((d, a) for d, assets in server.assets.items() for a in assets if a["blob"] == blob), None)
                if not found or found[1]["asset_id"] not in server.files:
                    return self._not_found()
                with server._lock:
                    busy, server.busy_blobs = server.busy_blobs > 0, max(0, server.busy_blobs - 1)
                if busy:
                    return self._json({"detail": "Slow down."}, 503)
                data = bytearray(server.files[found[1]["asset_id"]].read_bytes())
                if server.corrupt_at is not None and server.corrupt_at < len(data):
                    data[server.corrupt_at] ^= 0xFF
                start = 0
                if rng := re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or ""):
                    start = int(rng[1])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return None
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = bytes(data[start:])
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if head:
                    return None
                with server._lock:
                    drop, server.drop_after = server.drop_after, None
                if drop is not None and drop < len(body):
                    self.wfile.write(body[:drop])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)  # the peer sees a short body: IncompleteRead
                    return None
                self.wfile.write(body)
                return None

        return Handler


def closed_port_url() -> str:
    """An API URL on 127.0.0.1 where nothing listens (connection refused at once: an unreachable archive)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/api"


def download_argv(spec, api_url: str, out, *extra: str) -> list[str]:
    """`neurodyn download` arguments for an AssetSpec, with test-sized timeouts and back-off."""
    import dataclasses

    from pathlib import Path

    asset = {k: v for k, v in dataclasses.asdict(spec).items() if v is not None}
    raw_dir = Path(out).parents[len(Path(spec.path).parts)]  # out is <raw_dir>/<dandiset>/<path>
    dandi = {"api_url": api_url, "raw_dir": str(raw_dir), "lock_file": "x.yaml", "timeout_s": 2, "retries": 2,
             "backoff_s": 0.01, "chunk_bytes": 65536}
    return ["download", "--params", json.dumps({"asset": asset, "dandi": dandi}), "--out", str(out), *extra]
