"""Responses: Server-Sent Events for streams, a fold of the same events otherwise."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi.responses import JSONResponse, Response
from sse_starlette import EventSourceResponse

from freehold.api.service import Prepared
from freehold.api.translate import fold, stream_events
from freehold.engine.types import Chunk
from freehold.errors import FreeholdError


async def _prepend(first: Chunk, rest: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
    yield first
    if first.finish_reason is None:
        async for chunk in rest:
            yield chunk


async def respond(
    prepared: Prepared, chunks: AsyncGenerator[Chunk, None], stream: bool
) -> Response:
    """Wait for the first chunk (so a refused request gets its own status), then stream
    SSE or fold the very same events into one JSON body."""
    try:
        first = await anext(chunks)  # noqa: F821 (builtin since 3.10)
    except BaseException:
        await chunks.aclose()
        raise
    events = stream_events(prepared.meta, _prepend(first, chunks), prepared.split)
    if stream:
        return EventSourceResponse(_sse(events, chunks), sep="\n", ping=15)
    try:
        return JSONResponse(await fold(prepared.meta, events))
    finally:
        await chunks.aclose()


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
