"""One writer of responses for every API dialect: Server-Sent Events for streams, and for
the rest the fold of the very same chunks (``engine.fold``), rendered once.

A dialect supplies a ``Writer``: its events for the engine's chunks, its body for the
folded chunks, its in-stream error event, and its ``[DONE]`` and ping if it has them.
Until the first chunk arrives (a queued request may wait for a slot) and for the whole
of a non-streaming response, the client's disconnect cancels the generation.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from freehold.api.event_stream import EventStream
from freehold.engine.fold import Folded, fold_chunks
from freehold.engine.types import Chunk
from freehold.errors import FreeholdError

T = TypeVar("T")
CLIENT_CLOSED = 499  # nginx's code for "client closed request"; nobody reads it
PING_SECONDS = 15
PING_COMMENT = b": ping\n\n"


@dataclass(frozen=True)
class SseEvent:
    """One event: ``data`` (a JSON object, or a bare string such as ``[DONE]``) and, for
    dialects that name their events, the ``event:`` line."""

    data: dict[str, Any] | str
    event: str | None = None

    def wire(self) -> bytes:
        """The event as sent: ``event:`` and ``data:`` lines, then a blank line."""
        data = self.data
        if not isinstance(data, str):
            data = json.dumps(data, separators=(",", ":"))
        lines = "".join(f"data: {line}\n" for line in data.split("\n"))
        head = f"event: {self.event}\n" if self.event is not None else ""
        return f"{head}{lines}\n".encode()


class Writer(Protocol):
    """How one API dialect writes the engine's output."""

    @property
    def done(self) -> SseEvent | None:
        """Sent after the last event (OpenAI chat's ``[DONE]``), if the dialect has one."""

    @property
    def ping(self) -> SseEvent | None:
        """The keep-alive event; None: an SSE comment line."""

    def events(self, chunks: AsyncIterator[Chunk]) -> AsyncIterator[SseEvent]: ...

    def body(self, folded: Folded) -> dict[str, Any]: ...

    def error(self, exc: FreeholdError) -> SseEvent: ...


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """``work``'s result, or cancel it when the client goes away first."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not task.done():
            task.cancel()
            # let it unwind: until then it is not "cancelled" and it still runs the
            # generator that the caller will close
            await asyncio.gather(task, return_exceptions=True)
    if task.cancelled():
        raise FreeholdError("client closed the request", status=CLIENT_CLOSED)
    return task.result()


async def _prepend(first: Chunk, rest: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
    yield first
    if not first.final:
        async for chunk in rest:
            yield chunk


async def send(
    request: Request, chunks: AsyncGenerator[Chunk, None], writer: Writer, stream: bool
) -> Response:
    """Wait for the first chunk (so a refused request gets its own status), then stream
    the writer's events as SSE, or fold the chunks and send the writer's body."""
    try:
        first = await unless_disconnected(request, anext(chunks))
        whole = _prepend(first, chunks)
        if stream:
            ping = writer.ping.wire() if writer.ping is not None else PING_COMMENT
            return EventStream(_sse(writer, writer.events(whole), chunks), ping, PING_SECONDS)
        folded = await unless_disconnected(request, fold_chunks(whole))
        await chunks.aclose()  # ends the stream's lease on its model now, not at GC
        return JSONResponse(writer.body(folded))
    except BaseException:
        await chunks.aclose()
        raise


async def _sse(
    writer: Writer, events: AsyncIterator[SseEvent], chunks: AsyncGenerator[Chunk, None]
) -> AsyncIterator[bytes]:
    try:
        async for event in events:
            yield event.wire()
        if writer.done is not None:
            yield writer.done.wire()
    except FreeholdError as exc:
        yield writer.error(exc).wire()
    finally:
        await chunks.aclose()
