"""A hub-compatible HTTP server on 127.0.0.1 for the downloader's tests.

It serves real bytes with the routes and headers huggingface_hub 2.4.0 uses:

- ``GET /api/models/{repo}[/revision/{rev}]?blobs=true``: model info with ``sha`` and
  ``siblings`` (``rfilename``, ``size``, ``blobId``, ``lfs: {sha256, size, pointerSize}``);
- ``HEAD|GET /{repo}/resolve/{rev}/{path}``: for an LFS file a 302 to the "CDN" with
  ``X-Repo-Commit``, ``X-Linked-Etag``, ``X-Linked-Size`` and ``ETag`` (plus ``X-Xet-Hash``
  and a ``Link: rel="xet-auth"`` for a Xet repo); a file kept in git is served directly;
- ``HEAD|GET /cdn/{sha256}`` on ``localhost`` (another origin, like a real CDN, so the
  client neither follows the redirect on HEAD nor sends the token there), with HTTP Range;
- 401/403 with ``X-Error-Code`` (``RepoNotFound``, ``GatedRepo``, ``RevisionNotFound``,
  ``EntryNotFound``) as the hub sends them.

Failure modes for the CDN: ``corrupt`` (one flipped byte), ``throttle`` (bytes/s),
``drop`` (close the connection after N bytes) and ``reset`` (a TCP RST after N bytes).
Every request is logged and every body byte counted.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from .hub_data import GOOD_TOKEN, FakeFile, FakeRepo, HubState


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HubServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    @property
    def state(self) -> HubState:
        return self.server.state

    def do_HEAD(self) -> None:
        self.route(body=False)

    def do_GET(self) -> None:
        self.route(body=True)

    def route(self, body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        with self.state.lock:
            self.state.requests.append(
                {
                    "method": self.command,
                    "path": path,
                    "host": self.headers.get("Host"),
                    "range": self.headers.get("Range"),
                    "auth": self.headers.get("Authorization"),
                }
            )
        if m := re.fullmatch(r"/api/models/([^/]+/[^/]+?)(?:/revision/(.+))?", path):
            return self.model_info(m[1], m[2] or "main")
        if m := re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path):
            return self.resolve(m[1], m[2], m[3], body)
        if m := re.fullmatch(r"/cdn/([0-9a-f]{64})", path):
            f = self.state.by_sha(m[1])
            if f is None:
                return self.error(404, "EntryNotFound", "no such object")
            return self.send_file(f, {"ETag": f'"{f.sha256}"'}, body, cdn=True)
        self.error(404, None, "not found")

    def token(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        return auth.removeprefix("Bearer ").strip() or None

    def error(self, status: int, code: str | None, message: str) -> None:
        payload = json.dumps({"error": message}).encode()
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def repo_or_error(self, repo_id: str) -> FakeRepo | None:
        repo = self.state.repos.get(repo_id)
        if repo is None or (repo.private and self.token() != GOOD_TOKEN):
            self.error(401, "RepoNotFound", "Repository not found")
            return None
        return repo

    def model_info(self, repo_id: str, rev: str) -> None:
        repo = self.repo_or_error(repo_id)
        if repo is None:
            return
        commit = repo.resolve_revision(rev)
        if commit is None:
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        siblings = []
        for name, f in sorted(repo.files.items()):
            sibling: dict[str, Any] = {"rfilename": name, "size": f.listed_size}
            sibling["blobId"] = f.blob_id
            if f.lfs:
                sibling["lfs"] = {"sha256": f.sha256, "size": f.listed_size, "pointerSize": 134}
            siblings.append(sibling)
        info = {
            "_id": commit[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "sha": commit,
            "private": repo.private,
            "gated": "manual" if repo.gated else False,
            "disabled": False,
            "tags": ["gguf"],
            "siblings": siblings,
        }
        payload = json.dumps(info).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def resolve(self, repo_id: str, rev: str, name: str, body: bool) -> None:
        repo = self.repo_or_error(repo_id)
        if repo is None:
            return
        if repo.gated and self.token() != GOOD_TOKEN:
            status = 401 if self.token() is None else 403
            message = f"Access to model {repo_id} is restricted."
            return self.error(status, "GatedRepo", message)
        commit = repo.resolve_revision(rev)
        if commit is None:
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        f = repo.files.get(name)
        if f is None:
            return self.error(404, "EntryNotFound", f"{name} does not exist")
        headers = {"X-Repo-Commit": commit, "ETag": f'"{f.blob_id}"'}
        if not f.lfs:
            return self.send_file(f, headers, body, cdn=False)
        port = self.server.server_address[1]
        headers |= {
            "Location": f"http://localhost:{port}/cdn/{f.sha256}",
            "X-Linked-Etag": f'"{f.sha256}"',
            "X-Linked-Size": str(f.listed_size),
            "Content-Length": "0",
        }
        if repo.xet:
            refresh = f"http://127.0.0.1:{port}/api/models/{repo_id}/xet-read-token/{commit}"
            headers["X-Xet-Hash"] = hashlib.sha256(f.sha256.encode()).hexdigest()
            headers["Link"] = f'<{refresh}>; rel="xet-auth"'
        self.send_response(302)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()

    def byte_range(self, size: int) -> tuple[int, int] | None:
        header = self.headers.get("Range")
        if not header:
            return None
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", header.strip())
        if not m:
            return None
        start = int(m[1])
        end = min(int(m[2]) + 1, size) if m[2] else size
        return start, end

    def send_file(self, f: FakeFile, headers: dict[str, str], body: bool, cdn: bool) -> None:
        size = f.size
        span = self.byte_range(size)
        if span is not None and span[0] >= size:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start, end = span or (0, size)
        self.send_response(206 if span else 200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        if span:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.end_headers()
        if body:
            self.stream(f, start, end, cdn)

    def stream(self, f: FakeFile, start: int, end: int, cdn: bool) -> None:
        modes = self.state.modes
        with self.state.lock:
            drop = modes.drop.pop(0) if cdn and modes.drop else None
            reset = modes.reset.pop(0) if cdn and modes.reset else None
        sent, pos = 0, start
        for block in f.blocks(start, end):
            if f.sha256 in modes.corrupt and pos <= f.size // 2 < pos + len(block):
                i = f.size // 2 - pos
                block = block[:i] + bytes([block[i] ^ 0xFF]) + block[i + 1 :]
            limit = next((n for n in (drop, reset) if n is not None), None)
            if limit is not None and sent + len(block) >= limit:
                block = block[: max(limit - sent, 0)]
                self.wfile.write(block)
                self.state.count(f.sha256, len(block))
                return self.cut(reset=reset is not None)
            try:
                self.wfile.write(block)
            except OSError:  # the client went away (a killed pull)
                self.close_connection = True
                return
            sent += len(block)
            pos += len(block)
            self.state.count(f.sha256, len(block))
            if modes.throttle:
                time.sleep(len(block) / modes.throttle)

    def cut(self, reset: bool) -> None:
        """End the connection mid-body: a FIN (drop) or a TCP RST (reset)."""
        self.wfile.flush()
        if reset:  # linger 0, then close now: the kernel answers with RST, not FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        else:
            self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True


class HubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = HubState()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def add(self, repo: FakeRepo) -> FakeRepo:
        self.state.repos[repo.repo_id] = repo
        return repo

    def __enter__(self) -> HubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
