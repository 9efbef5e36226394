"""Start freehold as a subprocess on a free port and wait (bounded) until it is ready."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


def open_raw_post(base_url: str, path: str, body: dict[str, Any]) -> socket.socket:
    """Send a POST over a bare socket and return it unread: closing it is a client that
    leaves while it still waits for the response headers (e.g. queued for a slot)."""
    host, port = base_url.removeprefix("http://").split(":")
    data = json.dumps(body).encode()
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n".encode()
        + data
    )
    return sock


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def health(self) -> httpx.Response:
        return httpx.get(f"{self.base_url}/health", timeout=10)

    def busy(self) -> int:
        return int(self.health().json()["slots"]["inflight"])

    def wait_idle(self, timeout: float = 30) -> bool:
        """Poll until no request is running or waiting (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.busy() == 0:
                return True
            time.sleep(0.05)
        return False


@contextmanager
def running_server(
    args: list[str], log: Path, env: dict[str, str] | None = None, timeout: float = 180
) -> Iterator[RunningServer]:
    port = free_port()
    cmd = [sys.executable, "-m", "freehold", "serve", "--port", str(port), *args]
    with log.open("wb") as out:
        process = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
    server = RunningServer(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"freehold exited {process.returncode}:\n{log.read_text()}")
            try:
                if server.health().status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"freehold not ready in {timeout}s:\n{log.read_text()}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def smollm2_server(model_path: Path, log: Path, *args: str) -> Iterator[RunningServer]:
    """freehold on SmolLM2 served as ``smollm2``, 2 threads, with ``args`` (-c, -np, ...)."""
    with running_server(
        ["-m", str(model_path), "-t", "2", "--alias", "smollm2", *args], log
    ) as server:
        yield server
