"""BodyLimit: 413 for a request body over ``--max-body-bytes``, declared or chunked.

Plain ASGI on purpose: Starlette's BaseHTTPMiddleware tells the app the client is gone
once a response starts, which would end every stream at once.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from freehold.api import errors
from freehold.errors import FreeholdError


class BodyLimit:
    """A body declared larger than the limit is refused before it is read; any other is
    read here, counted as it arrives (``Transfer-Encoding: chunked`` declares nothing),
    refused as soon as it passes the limit, and handed on whole otherwise."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send, f"request body of {int(declared)} bytes")
            return
        first = await self._read_body(receive)
        if first is None:
            await self._refuse(scope, receive, send, "request body")
            return
        replay: list[Message] = [first]

        async def receive_after_body() -> Message:
            return replay.pop() if replay else await receive()

        await self.app(scope, receive_after_body, send)

    async def _read_body(self, receive: Receive) -> Message | None:
        """The whole body as one message (or the disconnect that cut it short); None as
        soon as it grows past the limit."""
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return message
            parts.append(message.get("body", b""))
            size += len(parts[-1])
            if size > self.limit:
                return None
            if not message.get("more_body", False):
                return {"type": "http.request", "body": b"".join(parts), "more_body": False}

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, what: str) -> None:
        error = FreeholdError(
            f"{what} is over the limit of {self.limit} bytes",
            status=413,
            code="request_too_large",
        )
        await errors.error_response(error, scope["path"])(scope, receive, send)
