"""The local engine for ``freehold run``: freehold's own app on a private Unix socket, in a
thread of this process, so the terminal chat speaks the same API as any other client."""

from __future__ import annotations

import logging
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import httpx
import uvicorn
from fastapi import FastAPI

from freehold.config import Settings
from freehold.run.client import ChatError

BASE_URL = "http://freehold.local"


@contextmanager
def local_server(settings: Settings, timeout: float = 600) -> Iterator[httpx.BaseTransport]:
    """A transport to freehold serving ``settings.model``, ready (model loaded)."""
    from freehold.api import create_app
    from freehold.server import build_registry

    app = create_app(settings, build_registry(settings))
    with serve_in_thread(app, timeout) as transport:
        yield transport


@contextmanager
def serve_in_thread(app: FastAPI, timeout: float = 600) -> Iterator[httpx.BaseTransport]:
    """Run ``app`` with uvicorn on a Unix socket in a private tmp dir, in a thread; yield
    a transport to it once /health answers 200; stop it on exit."""
    with tempfile.TemporaryDirectory(prefix="freehold-run-") as tmp:
        socket_path = str(Path(tmp) / "api.sock")
        server = uvicorn.Server(
            uvicorn.Config(app, uds=socket_path, log_level="warning", lifespan="on")
        )
        thread = threading.Thread(target=server.run, name="freehold-run-server", daemon=True)
        transport = httpx.HTTPTransport(uds=socket_path)
        main = threading.current_thread() is threading.main_thread()
        previous = signal.getsignal(signal.SIGTERM) if main else None

        def load_failed(signum: int, frame: FrameType | None) -> None:
            # the app's lifespan signals SIGTERM when the model cannot be loaded
            raise ChatError(f"could not load the model: {app.state.load_error or 'stopped'}")

        if main:
            signal.signal(signal.SIGTERM, load_failed)
        thread.start()
        try:
            _wait_ready(transport, thread, timeout)
            yield transport
        finally:
            server.should_exit = True
            thread.join(timeout=30)
            transport.close()
            if main:
                signal.signal(signal.SIGTERM, previous)


def _wait_ready(transport: httpx.BaseTransport, thread: threading.Thread, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(transport=transport, base_url=BASE_URL, timeout=10) as http:
        while time.monotonic() < deadline:
            if not thread.is_alive():
                raise ChatError("the local server stopped while loading the model")
            try:
                if http.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass  # the socket is not bound yet
            time.sleep(0.1)
    raise ChatError(f"the model did not load within {timeout:.0f} s")


def quiet_logs() -> None:
    """Warnings and errors only: the terminal belongs to the chat."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
