"""A thin ``text/event-stream`` response: pre-encoded events, one ASGI send each.

sse-starlette's ``EventSourceResponse`` opened an anyio cancel scope around every event
it sent (its per-send timeout) and ran its stream, pings, disconnect and shutdown
watchers in a task group: about half of the event loop's time per streamed token went
there. Here the events arrive as bytes, the stream runs in one task that does nothing
but ``send``, a second task waits for the client's disconnect (which cancels the stream,
and so the generation behind it) and a third sends a keep-alive every ``ping_seconds``.
At shutdown uvicorn's graceful timeout bounds the stream (the engine ends it first).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

HEADERS = {"Cache-Control": "no-store", "Connection": "keep-alive", "X-Accel-Buffering": "no"}


class EventStream(Response):
    """Streams ``events`` (each a whole encoded SSE event) until they end or the client
    leaves; ``ping`` (a whole event or comment) every ``ping_seconds`` meanwhile."""

    media_type = "text/event-stream"

    def __init__(self, events: AsyncIterator[bytes], ping: bytes, ping_seconds: float) -> None:
        # no Response.__init__: it would render an empty body and a Content-Length: 0
        self.status_code = 200
        self.background = None
        self.init_headers(HEADERS)
        self.events = events
        self.ping = ping
        self.ping_seconds = ping_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        stream = asyncio.ensure_future(self._stream(send))
        gone = asyncio.ensure_future(_disconnected(receive))
        pinger = asyncio.ensure_future(self._pings(send))
        try:
            await asyncio.wait({stream, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            pinger.cancel()
            stream.cancel()  # a no-op once it ended; else the client left: stop it
            await asyncio.gather(stream, gone, pinger, return_exceptions=True)
        if not stream.cancelled() and stream.exception() is not None:
            raise stream.exception()  # type: ignore[misc]

    async def _stream(self, send: Send) -> None:
        try:
            async for event in self.events:
                await send({"type": "http.response.body", "body": event, "more_body": True})
        finally:
            aclose = getattr(self.events, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(RuntimeError):  # already running / closed
                    await aclose()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pings(self, send: Send) -> None:
        while True:
            await asyncio.sleep(self.ping_seconds)
            await send({"type": "http.response.body", "body": self.ping, "more_body": True})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
