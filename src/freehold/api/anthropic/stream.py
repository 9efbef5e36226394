"""The engine's parts → Anthropic's message events; the non-streamed message is rendered
from the fold of the same chunks.

Events: message_start, ping, then per content block (thinking, text, tool_use)
content_block_start, content_block_delta (``thinking_delta`` + a ``signature_delta``,
``text_delta``, ``input_json_delta``), content_block_stop; then message_delta
(stop_reason, usage) and message_stop.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from freehold.api.anthropic.errors import error_body
from freehold.api.sse import SseEvent
from freehold.engine.fold import Choice, Folded
from freehold.engine.types import Chunk, FinishReason, Part, ToolCall, Usage
from freehold.errors import FreeholdError

_BLOCK = {"reasoning": "thinking", "content": "text"}


def signature(thinking: str) -> str:
    """A stand-in for Anthropic's signature: freehold has no secret to sign with, so it is
    the SHA-256 of the thinking text (clients only need the field to be there)."""
    return hashlib.sha256(thinking.encode()).hexdigest()


def stop_reason(finish: FinishReason | None, stop_sequence: str | None) -> str:
    if finish == "length":
        return "max_tokens"
    if finish == "tool_calls":
        return "tool_use"
    return "stop_sequence" if stop_sequence else "end_turn"


def usage_dict(usage: Usage) -> dict[str, int]:
    return {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens}


def tool_use_block(call: ToolCall) -> dict[str, Any]:
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": _input(call)}


def _input(call: ToolCall) -> Any:
    try:
        return json.loads(call.arguments)
    except ValueError:
        return {}


def _event(kind: str, **fields: Any) -> SseEvent:
    return SseEvent({"type": kind, **fields}, kind)


class MessageWriter:
    """Writes one message. ``hide_thinking``: thinking was turned off, so a stray think
    block the model writes anyway is dropped."""

    done: SseEvent | None = None
    ping: SseEvent | None = _event("ping")

    def __init__(self, model: str, hide_thinking: bool, input_tokens: int) -> None:
        self.id = f"msg_{uuid.uuid4().hex}"
        self.model = model
        self.hide_thinking = hide_thinking
        self.input_tokens = input_tokens
        self._index = -1
        self._open: str | None = None  # the kind of the open block
        self._thinking = ""

    def message(self, content: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        usage = {"input_tokens": self.input_tokens, "output_tokens": 0}
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
            **fields,
        }

    def body(self, folded: Folded) -> dict[str, Any]:
        choice = folded.choices[0] if folded.choices else Choice()
        content: list[dict[str, Any]] = []
        if choice.reasoning and not self.hide_thinking:
            thinking, sig = choice.reasoning, signature(choice.reasoning)
            content.append({"type": "thinking", "thinking": thinking, "signature": sig})
        if choice.content:  # as the stream: no text block without text
            content.append({"type": "text", "text": choice.content})
        content += [tool_use_block(call) for call in choice.tool_calls]
        return self.message(
            content,
            stop_reason=stop_reason(choice.finish_reason, choice.stop_sequence),
            stop_sequence=choice.stop_sequence,
            usage=usage_dict(folded.usage),
        )

    async def events(self, chunks: AsyncIterator[Chunk]) -> AsyncIterator[SseEvent]:
        yield _event("message_start", message=self.message([]))
        yield _event("ping")
        async for chunk in chunks:
            for part in chunk.parts:
                for event in self._part(part):
                    yield event
            if chunk.finish_reason is not None:
                for event in self._close():
                    yield event
                reason = stop_reason(chunk.finish_reason, chunk.stop_sequence)
                delta = {"stop_reason": reason, "stop_sequence": chunk.stop_sequence}
                yield _event("message_delta", delta=delta, usage=usage_dict(chunk.usage or Usage()))
                yield _event("message_stop")

    def error(self, exc: FreeholdError) -> SseEvent:
        return SseEvent(error_body(exc), "error")

    def _part(self, part: Part) -> list[SseEvent]:
        if part.call is not None:
            return self._call(part.kind, part.call)
        if not part.text or (part.kind == "reasoning" and self.hide_thinking):
            return []
        kind = _BLOCK[part.kind]
        out = []
        if kind != self._open:
            empty = {"type": "thinking", "thinking": "", "signature": ""}
            out += self._start(empty if kind == "thinking" else {"type": "text", "text": ""})
        if kind == "thinking":
            self._thinking += part.text
        delta = {"type": f"{kind}_delta", kind: part.text}
        return [*out, _event("content_block_delta", index=self._index, delta=delta)]

    def _call(self, kind: str, call: ToolCall) -> list[SseEvent]:
        """A whole call: its block at once; a streamed one: the block opens at its start,
        takes each fragment as an ``input_json_delta``, closes at its end (or drop)."""
        if kind in ("tool_call_end", "tool_call_drop"):
            return self._close()
        out = []
        if kind != "tool_args":
            out += self._start({**tool_use_block(call), "input": {}})
        if call.arguments:
            delta = {"type": "input_json_delta", "partial_json": call.arguments}
            out.append(_event("content_block_delta", index=self._index, delta=delta))
        return [*out, *(self._close() if kind == "tool_call" else [])]

    def _start(self, block: dict[str, Any]) -> list[SseEvent]:
        out = self._close()
        self._index += 1
        self._open = block["type"]
        return [*out, _event("content_block_start", index=self._index, content_block=block)]

    def _close(self) -> list[SseEvent]:
        if self._open is None:
            return []
        out = []
        if self._open == "thinking":
            delta = {"type": "signature_delta", "signature": signature(self._thinking)}
            out.append(_event("content_block_delta", index=self._index, delta=delta))
            self._thinking = ""
        self._open = None
        return [*out, _event("content_block_stop", index=self._index)]
