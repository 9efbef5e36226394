"""Responses: Server-Sent Events for streams, a fold of the same events otherwise.

Until the first chunk arrives (a queued request may wait for a slot) and for the whole of
a non-streaming response, the client's disconnect cancels the generation.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from sse_starlette import EventSourceResponse

from freehold.api.openai_wire import chat_response, completion_response, stream_events
from freehold.api.service import Prepared
from freehold.engine.fold import fold_chunks
from freehold.engine.types import Chunk
from freehold.errors import FreeholdError

T = TypeVar("T")
CLIENT_CLOSED = 499  # nginx's code for "client closed request"; nobody reads it
# On SIGTERM the engine ends every stream within --shutdown-timeout; the stream then
# has this much longer to send its last events before sse-starlette cancels it.
DRAIN_MARGIN_SECONDS = 10


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


async def respond(
    request: Request, prepared: Prepared, chunks: AsyncGenerator[Chunk, None], stream: bool
) -> Response:
    """Wait for the first chunk (so a refused request gets its own status), then stream
    SSE or fold the very same events into one JSON body."""
    try:
        first = await unless_disconnected(request, anext(chunks))
        meta, whole = prepared.meta, _prepend(first, chunks)
        if stream:
            events = stream_events(meta, whole, prepared.shape)
            return EventSourceResponse(
                _sse(events, chunks),
                sep="\n",
                ping=15,
                shutdown_grace_period=_drain_seconds(request),
            )
        folded = await unless_disconnected(request, fold_chunks(whole))
        await chunks.aclose()  # ends the stream's lease on its model now, not at GC
        if meta.chat:
            return JSONResponse(chat_response(meta, folded, prepared.shape))
        return JSONResponse(completion_response(meta, folded))
    except BaseException:
        await chunks.aclose()
        raise


def _drain_seconds(request: Request) -> float:
    return float(request.app.state.settings.shutdown_timeout) + DRAIN_MARGIN_SECONDS


async def _sse(
    events: AsyncIterator[dict[str, Any]], chunks: AsyncGenerator[Chunk, None]
) -> AsyncIterator[dict[str, str]]:
    try:
        async for event in events:
            yield {"data": json.dumps(event, separators=(",", ":"))}
        yield {"data": "[DONE]"}
    except FreeholdError as exc:
        yield {"data": json.dumps(exc.to_dict())}
    finally:
        await chunks.aclose()
