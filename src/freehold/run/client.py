"""A small streaming client of freehold's chat API (any OpenAI-compatible server will do)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


class ChatError(Exception):
    """A request the server refused or could not finish; the message is the server's."""


@dataclass
class Delta:
    """One streamed piece of a reply; the last one carries ``usage`` (and ``finish``)."""

    content: str = ""
    reasoning: str = ""
    finish: str | None = None
    usage: dict[str, Any] | None = None


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
        message = error.get("message") if isinstance(error, dict) else str(error)
    except (ValueError, AttributeError):
        message = None
    return f"{response.status_code}: {message or response.text.strip() or response.reason_phrase}"


def parse_event(data: str) -> Delta | None:
    """The Delta in one SSE ``data:`` payload of a chat stream (None for ``[DONE]``)."""
    if data == "[DONE]":
        return None
    event = json.loads(data)
    if "error" in event:
        error = event["error"]
        raise ChatError(error.get("message", str(error)) if isinstance(error, dict) else error)
    delta = Delta(usage=event.get("usage"))
    for choice in event.get("choices") or []:
        part = choice.get("delta") or {}
        delta.content += part.get("content") or ""
        delta.reasoning += part.get("reasoning_content") or part.get("reasoning") or ""
        delta.finish = choice.get("finish_reason") or delta.finish
    return delta


class ChatClient:
    """``models()`` and ``stream(body)`` over one HTTP connection pool."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            transport=transport,
            timeout=httpx.Timeout(30.0, read=None),  # a long reply may pause between tokens
        )

    def close(self) -> None:
        self.http.close()

    def get(self, path: str) -> dict[str, Any]:
        try:
            response = self.http.get(path)
        except httpx.TransportError as exc:
            raise ChatError(f"cannot reach {self.http.base_url}: {exc}") from exc
        if response.status_code != 200:
            raise ChatError(_error_message(response))
        return response.json()  # type: ignore[no-any-return]

    def models(self) -> list[dict[str, Any]]:
        return list(self.get("/v1/models").get("data") or [])

    def stream(self, body: dict[str, Any]) -> Iterator[Delta]:
        """The reply's Deltas as they arrive; closing the iterator (or Ctrl-C while it
        waits) closes the connection, which stops the generation on the server."""
        body = {**body, "stream": True, "stream_options": {"include_usage": True}}
        try:
            with self.http.stream("POST", "/v1/chat/completions", json=body) as response:
                if response.status_code != 200:
                    response.read()
                    raise ChatError(_error_message(response))
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    delta = parse_event(line.removeprefix("data:").strip())
                    if delta is None:
                        return
                    yield delta
        except httpx.TransportError as exc:
            raise ChatError(f"connection to {self.http.base_url} failed: {exc}") from exc
