"""The three servers under test: how each starts, what it is sent, when it is ready.

Each runs as a child process on 127.0.0.1 (its own process group) with the same
model, threads, total context and slots.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def _embedded_model() -> Path:
    from freehold.models.resolve import embedded_model

    path = embedded_model()
    if path is None:
        raise SystemExit("SmolLM2-135M is not installed: run `make install`")
    return path


MODEL = _embedded_model()
LLAMA_SERVER = ROOT / "bench/.build/llama.cpp-build/bin/llama-server"


@dataclass(frozen=True)
class Config:
    """What every server gets alike."""

    model: Path
    threads: int
    ctx_size: int
    parallel: int
    # llama.cpp's extra CPU buffer types (repack, AMX), decided once by freehold's own
    # rule (engine/cpu.py) and given to every server alike: unequal otherwise, and on an
    # AMX host the peers would crash at their first request (llama.cpp issue #20824).
    repack: bool = True


@dataclass(frozen=True)
class ServerSpec:
    """One server under test."""

    name: str
    label: str
    command: Callable[[Config, int], list[str]]
    extra_body: dict[str, Any] = field(default_factory=dict)


def _freehold(cfg: Config, port: int) -> list[str]:
    return [
        sys.executable, "-m", "freehold", "serve",
        "--model", str(cfg.model), "--host", "127.0.0.1", "--port", str(port),
        "--threads", str(cfg.threads), "--ctx-size", str(cfg.ctx_size),
        "--parallel", str(cfg.parallel), "--repack" if cfg.repack else "--no-repack",
    ]  # fmt: skip


def _llama_cpp_python(cfg: Config, port: int) -> list[str]:
    # n_threads_batch too: its default is every core, the others use --threads for both.
    # flash_attn on: what llama.cpp's "auto" resolves to on CPU for the other two.
    # logits_all off: its default computes logits for every prompt token (slow prefill).
    return [
        sys.executable, str(ROOT / "bench/lcp_server.py"), "--repack", str(cfg.repack),
        "--model", str(cfg.model), "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", str(cfg.ctx_size), "--n_threads", str(cfg.threads),
        "--n_threads_batch", str(cfg.threads), "--flash_attn", "True",
        "--interrupt_requests", "False", "--logits_all", "False", "--verbose", "False",
    ]  # fmt: skip


def _llama_server(cfg: Config, port: int) -> list[str]:
    return [
        str(LLAMA_SERVER),
        "-m", str(cfg.model), "--host", "127.0.0.1", "--port", str(port),
        "-t", str(cfg.threads), "-tb", str(cfg.threads), "-c", str(cfg.ctx_size),
        "-np", str(cfg.parallel), "--flash-attn", "auto", "--no-webui",
        *([] if cfg.repack else ["--no-repack"]),
    ]  # fmt: skip


SERVERS: dict[str, ServerSpec] = {
    "freehold": ServerSpec("freehold", "freehold", _freehold, {"ignore_eos": True}),
    "llama-server": ServerSpec("llama-server", "llama-server", _llama_server, {"ignore_eos": True}),
    # No ignore_eos there; its logit_bias runs a Python logits processor over the whole
    # vocabulary per token, which halved its speed here (80 → 44 tok/s), so it gets neither:
    # a few of its answers may end early, and tokens are counted as they come.
    "llama-cpp-python": ServerSpec(
        "llama-cpp-python", "llama-cpp-python server", _llama_cpp_python
    ),
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RunningServer:
    """A started server process, its base URL, model id and log file."""

    def __init__(self, spec: ServerSpec, cfg: Config, workdir: Path) -> None:
        self.spec = spec
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{spec.name}.log"
        self.argv = spec.command(cfg, self.port)
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            self.argv, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT,
            start_new_session=True,
        )  # fmt: skip
        self.model_id = ""

    def _probe(self, client: httpx.Client) -> bool:
        """Ready: /health is not 503 (llama-cpp-python has none) and /v1/models lists one."""
        try:
            if client.get(f"{self.base}/health").status_code == 503:
                return False
            resp = client.get(f"{self.base}/v1/models")
            if resp.status_code == 200 and resp.json().get("data"):
                self.model_id = resp.json()["data"][0]["id"]
                return True
        except (httpx.HTTPError, ValueError):
            pass
        return False

    def wait_ready(self, timeout_s: float = 240.0) -> float:
        """Poll until the server is ready; return the seconds waited."""
        t0 = time.monotonic()
        with httpx.Client(timeout=5) as client:
            while time.monotonic() - t0 < timeout_s:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"{self.spec.name} exited ({self.proc.returncode}): see {self.log_path}"
                    )
                if self._probe(client):
                    return time.monotonic() - t0
                time.sleep(0.25)
        raise TimeoutError(f"{self.spec.name} not ready in {timeout_s:.0f}s: see {self.log_path}")

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGINT the server's process group, then SIGKILL it if it lingers."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=timeout_s)
        self._log.close()
