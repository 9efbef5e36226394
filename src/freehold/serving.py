"""uvicorn, run the way a server on a LAN needs: slow clients cut off, a clean stop.

- ``ClientDeadlines`` / ``FastClientDeadlines``: uvicorn's h11 or httptools protocol with
  a deadline for each phase in which the client owes data. uvicorn times out only idle
  keep-alive connections, so a client that dribbles its headers or its body a byte at a
  time (slowloris) holds a connection for ever. Here the request line and headers must
  arrive within ``client_timeout`` seconds, and then the whole body within as many again;
  past that the connection is closed (a late body first gets a 408 in the API's error
  shape).
- uvloop and httptools (dependencies; skipped where they are not installed) for the served
  process: less event-loop CPU per streamed token, which on a small machine is CPU that
  llama.cpp's threads get back (bench/cpu_per_token.py).
- ``GracefulServer``: on SIGTERM/SIGINT, new connections are refused, running requests
  get ``shutdown_timeout`` seconds to finish (the engine then ends them with
  finish_reason "length" and answers queued ones 503), and the process exits 0 (uvicorn
  re-raises the signal after its shutdown, which made the exit status 143).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import signal
import threading
from collections.abc import Callable, Generator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is not installed
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

from freehold.api.errors import error_response
from freehold.config import Settings
from freehold.errors import FreeholdError

log = logging.getLogger(__name__)


def _timeout_response(path: str) -> bytes:
    """A raw 408 in the error dialect of the route at ``path``."""
    error = FreeholdError(
        "the request body did not arrive in time", status=408, code="request_timeout"
    )
    body = bytes(error_response(error, path).body)
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class _Deadlines:
    """The deadline logic shared by both HTTP parsers' protocols: ``_owe(phase)`` when the
    client starts owing "head" or "body" (None: it owes nothing)."""

    client_timeout = 30.0
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any
    client: tuple[str, int] | None

    def _init_deadlines(self) -> None:
        self._phase: tuple[object, object] | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def _owe(self, phase: tuple[object, object] | None) -> None:
        """Arm a deadline when the client starts owing a head or a body; disarm it once
        it has sent what it owes."""
        if phase == self._phase:
            return
        self._disarm()
        self._phase = phase
        if phase is not None and not self.transport.is_closing():
            self._deadline = self.loop.call_later(self.client_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _in_body(self) -> bool:
        return self._phase is not None and self._phase[1] == "body"

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        in_body = self._in_body()
        log.warning(
            "closing a connection from %s: its request %s did not arrive within %.0f s",
            f"{self.client[0]}:{self.client[1]}" if self.client else "?",
            "body" if in_body else "headers",
            self.client_timeout,
        )
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if in_body and not cycle.response_started:
                self.transport.write(_timeout_response(cycle.scope["path"]))
            cycle.disconnected = True  # the app sees a client that left
            cycle.message_event.set()
        self.transport.close()


class ClientDeadlines(_Deadlines, H11Protocol):
    """h11 with deadlines for the client's head and body (see the module docstring)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        self._init_deadlines()
        super().connection_made(transport)  # type: ignore[arg-type]
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        self._watch()

    def _watch(self) -> None:
        state = self.conn.their_state
        owed = {h11.IDLE: "head", h11.SEND_BODY: "body"}.get(state)
        self._owe((self.cycle, owed) if owed else None)


class FastClientDeadlines(_Deadlines, HttpToolsProtocol):
    """The same deadlines over httptools (C parser: far less CPU per request than h11):
    the head is owed from the connection's start and after each response, the body
    from the end of the head until the end of the message."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        self._init_deadlines()
        super().connection_made(transport)  # type: ignore[arg-type]
        self._owe((None, "head"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._owe((self.cycle, "body"))

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._owe(None)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._owe((self.cycle, "head"))


def deadlines_protocol(client_timeout: float) -> type[asyncio.Protocol]:
    """The HTTP protocol with the client deadlines: over httptools when it is installed,
    else over h11."""
    base: type[asyncio.Protocol] = (
        ClientDeadlines if HttpToolsProtocol is None else FastClientDeadlines
    )
    return type(base.__name__, (base,), {"client_timeout": client_timeout})


def loop_name() -> str:
    """uvloop when it is installed: its callbacks, transports and timers cost a fraction
    of asyncio's per streamed token."""
    return "asyncio" if importlib.util.find_spec("uvloop") is None else "uvloop"


class GracefulServer(uvicorn.Server):
    """uvicorn.Server that calls ``on_stop`` at the first stop signal and, once drained,
    lets the process exit normally instead of re-raising the signal."""

    def __init__(self, config: uvicorn.Config, on_stop: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_stop = on_stop

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            log.info("stopping: running requests get their drain time, new ones are refused")
            self._on_stop()
        super().handle_exit(sig, frame)


def run_app(app: FastAPI, settings: Settings) -> None:
    """Serve ``app`` until a stop signal, then drain its engines and return."""
    registry = app.state.registry
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        http=deadlines_protocol(settings.client_timeout),
        loop=loop_name(),
        # after the drain, streams still need a moment to send their last events
        timeout_graceful_shutdown=int(settings.shutdown_timeout) + 15,
    )
    GracefulServer(config, on_stop=lambda: registry.drain(settings.shutdown_timeout)).run()
