"""The engine's parts → the Responses event stream; the non-streamed response is rendered
from the fold of the same chunks.

Events: response.created, response.in_progress; per output item (``reasoning``,
``message``, ``function_call``) output_item.added, then for text items
content_part.added, the text deltas and done, content_part.done (for calls the
arguments delta and done), and output_item.done; then response.completed (or
response.incomplete when ``max_output_tokens`` cut it). Each event has its
``sequence_number``.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from freehold.api.sse import SseEvent
from freehold.engine.fold import Choice, Folded
from freehold.engine.types import Chunk, Part, ToolCall, Usage
from freehold.errors import FreeholdError

OUTPUT_TEXT = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
REASONING_TEXT = {"type": "reasoning_text", "text": ""}
_EVENTS = {"reasoning": "response.reasoning_text", "message": "response.output_text"}


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def message_item(text: str = "", status: str = "in_progress") -> dict[str, Any]:
    content = [{**OUTPUT_TEXT, "text": text}] if text or status != "in_progress" else []
    return {
        "id": _id("msg"),
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": content,
    }


def reasoning_item(text: str = "", status: str = "in_progress") -> dict[str, Any]:
    content = [{**REASONING_TEXT, "text": text}] if text or status != "in_progress" else []
    return {
        "id": _id("rs"),
        "type": "reasoning",
        "status": status,
        "summary": [],
        "content": content,
    }


def call_item(call: ToolCall, status: str = "completed") -> dict[str, Any]:
    return {
        "id": _id("fc"),
        "type": "function_call",
        "status": status,
        "call_id": call.id,
        "name": call.name,
        "arguments": call.arguments,
    }


def usage_dict(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens, "cache_write_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def finished(response: dict[str, Any], cut: bool, usage: Usage) -> dict[str, Any]:
    return {
        **response,
        "status": "incomplete" if cut else "completed",
        "completed_at": None if cut else int(time.time()),
        "incomplete_details": {"reason": "max_output_tokens"} if cut else None,
        "usage": usage_dict(usage),
    }


class ResponseWriter:
    """Writes one response from ``response`` (its skeleton). ``hide_reasoning``: thinking
    was turned off, so a stray think block is dropped. ``on_done`` gets the finished
    response (to store it)."""

    done: SseEvent | None = None
    ping: SseEvent | None = None

    def __init__(
        self,
        response: dict[str, Any],
        hide_reasoning: bool,
        on_done: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.response = response
        self.hide_reasoning = hide_reasoning
        self.on_done = on_done
        self._seq = 0
        self._output: list[dict[str, Any]] = []
        self._open: str | None = None  # the type of the open text item

    def body(self, folded: Folded) -> dict[str, Any]:
        choice = folded.choices[0] if folded.choices else Choice()
        cut = choice.finish_reason == "length"
        status = "incomplete" if cut else "completed"
        output = []
        if choice.reasoning and not self.hide_reasoning:
            output.append(reasoning_item(choice.reasoning, status))
        if choice.content:
            output.append(message_item(choice.content, status))
        output += [call_item(call) for call in choice.tool_calls]
        return self._finish({**self.response, "output": output}, cut, folded.usage)

    async def events(self, chunks: AsyncIterator[Chunk]) -> AsyncIterator[SseEvent]:
        yield self._event("response.created", response=copy.deepcopy(self.response))
        yield self._event("response.in_progress", response=copy.deepcopy(self.response))
        async for chunk in chunks:
            for part in chunk.parts:
                for event in self._part(part):
                    yield event
            if chunk.finish_reason is not None:
                cut = chunk.finish_reason == "length"
                for event in self._close("incomplete" if cut else "completed"):
                    yield event
                response = {**self.response, "output": self._output}
                done = self._finish(response, cut, chunk.usage or Usage())
                kind = "response.incomplete" if cut else "response.completed"
                yield self._event(kind, response=done)

    def error(self, exc: FreeholdError) -> SseEvent:
        return self._event("error", code=exc.code, message=exc.message, param=exc.param)

    def _finish(self, response: dict[str, Any], cut: bool, usage: Usage) -> dict[str, Any]:
        done = finished(response, cut, usage)
        if self.on_done is not None:
            self.on_done(copy.deepcopy(done))
        return done

    def _event(self, kind: str, **fields: Any) -> SseEvent:
        self._seq += 1
        return SseEvent({"type": kind, **fields, "sequence_number": self._seq - 1}, kind)

    def _where(self) -> dict[str, Any]:
        index = len(self._output) - 1
        return {"item_id": self._output[index]["id"], "output_index": index}

    def _part(self, part: Part) -> list[SseEvent]:
        if part.call is not None:
            return self._call_part(part.kind, part.call)
        if not part.text or (part.kind == "reasoning" and self.hide_reasoning):
            return []
        kind = "reasoning" if part.kind == "reasoning" else "message"
        out = [] if kind == self._open else [*self._close("completed"), *self._start(kind)]
        self._output[-1]["content"][0]["text"] += part.text
        extra: dict[str, Any] = {"logprobs": []} if kind == "message" else {}
        name = f"{_EVENTS[kind]}.delta"
        return [*out, self._event(name, **self._where(), content_index=0, delta=part.text, **extra)]

    def _start(self, kind: str) -> list[SseEvent]:
        item = reasoning_item() if kind == "reasoning" else message_item()
        self._output.append(item)
        self._open = kind
        added = self._event(
            "response.output_item.added",
            output_index=len(self._output) - 1,
            item=copy.deepcopy(item),
        )
        part = copy.deepcopy(REASONING_TEXT if kind == "reasoning" else OUTPUT_TEXT)
        item["content"].append(part)
        where = {**self._where(), "content_index": 0}
        return [added, self._event("response.content_part.added", **where, part=copy.copy(part))]

    def _close(self, status: str) -> list[SseEvent]:
        if self._open is None:
            return []
        kind, self._open = self._open, None
        item = self._output[-1]
        item["status"] = status
        part = item["content"][0]
        where = {**self._where(), "content_index": 0}
        extra: dict[str, Any] = {"logprobs": []} if kind == "message" else {}
        return [
            self._event(f"{_EVENTS[kind]}.done", **where, text=part["text"], **extra),
            self._event("response.content_part.done", **where, part=copy.deepcopy(part)),
            self._event(
                "response.output_item.done",
                output_index=where["output_index"],
                item=copy.deepcopy(item),
            ),
        ]

    def _call_part(self, kind: str, call: ToolCall) -> list[SseEvent]:
        """A whole call: its item at once. A streamed one: ``output_item.added`` at its
        start, one ``function_call_arguments.delta`` per fragment, ``.done`` and
        ``output_item.done`` at its end; a dropped one leaves the output (status
        ``incomplete`` in its ``output_item.done``)."""
        if kind == "tool_args":
            self._output[-1]["arguments"] += call.arguments
            return [self._arguments_delta(call.arguments)]
        if kind == "tool_call_end":
            return self._call_done(call)
        if kind == "tool_call_drop":
            item = {**self._output.pop(), "status": "incomplete"}
            index = len(self._output)
            return [self._event("response.output_item.done", output_index=index, item=item)]
        out = [*self._close("completed"), *self._call_added(call)]
        if kind == "tool_call":
            out += [self._arguments_delta(call.arguments), *self._call_done(call)]
        return out

    def _call_added(self, call: ToolCall) -> list[SseEvent]:
        item = {**call_item(call, "in_progress"), "arguments": ""}
        self._output.append(item)
        index = len(self._output) - 1
        added = self._event("response.output_item.added", output_index=index, item=dict(item))
        return [added]

    def _arguments_delta(self, text: str) -> SseEvent:
        return self._event("response.function_call_arguments.delta", **self._where(), delta=text)

    def _call_done(self, call: ToolCall) -> list[SseEvent]:
        item = self._output[-1]
        item.update(arguments=call.arguments, status="completed")
        where = self._where()
        return [
            self._event(
                "response.function_call_arguments.done",
                **where,
                name=call.name,
                arguments=call.arguments,
            ),
            self._event(
                "response.output_item.done",
                output_index=where["output_index"],
                item=copy.deepcopy(item),
            ),
        ]
