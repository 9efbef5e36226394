"""The engine's typed parts in OpenAI's wire format: stream chunks, and the folded answer.

Pure translation: ``stream_events`` turns chunks into Chat Completions / Completions
stream objects; ``chat_response`` / ``completion_response`` render the fold of the same
chunks (``engine.fold``) once. ``PartShape`` says where thinking goes (the request's
``reasoning_format``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from freehold.api.sse import SseEvent
from freehold.api.translate import ResponseMeta, usage_dict
from freehold.chat.reasoning_request import Output
from freehold.engine.fold import Choice, Folded
from freehold.engine.types import Chunk, Part, TokenLogprob, ToolCall
from freehold.errors import FreeholdError

Delta = dict[str, Any]


@dataclass
class PartShape:
    """Where thinking goes in a message: ``reasoning_content``, ``reasoning``, ``both``,
    ``hidden`` (dropped), or ``inline`` (back into content, between its markers)."""

    output: Output = "reasoning_content"
    start: str = ""
    end: str = ""
    _inline_open: dict[int, bool] = field(default_factory=dict)

    def reasoning_fields(self, text: str) -> Delta:
        if self.output == "reasoning_content":
            return {"reasoning_content": text}
        if self.output == "reasoning":
            return {"reasoning": text}
        if self.output == "both":
            return {"reasoning_content": text, "reasoning": text}
        return {}

    def delta(self, index: int, part: Part) -> Delta:
        """One part as a stream delta (empty: nothing to send)."""
        if part.call is not None:
            return tool_call_delta(part.kind, part.call)
        if self.output != "inline":
            return (
                self.reasoning_fields(part.text)
                if part.kind == "reasoning"
                else {"content": part.text}
            )
        opened = self._inline_open.get(index, False)
        self._inline_open[index] = part.kind == "reasoning"
        if part.kind == "reasoning":
            return {"content": part.text if opened else self.start + part.text}
        return {"content": (self.end if opened else "") + part.text}

    def message_fields(self, choice: Choice) -> Delta:
        """The folded choice's text fields, as ``delta`` would have streamed them."""
        if self.output == "inline" and choice.reasoning:
            return {"content": f"{self.start}{choice.reasoning}{self.end}{choice.content}"}
        fields = self.reasoning_fields(choice.reasoning) if choice.reasoning else {}
        return {"content": choice.content, **fields}


def tool_call_dict(call: ToolCall, stream: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }
    return {"index": call.index, **out} if stream else out


def tool_call_delta(kind: str, call: ToolCall) -> Delta:
    """A call part as a stream delta: a whole call or a streamed call's start (id, name,
    arguments ""), then its arguments fragments; its end or drop sends nothing."""
    if kind in ("tool_call", "tool_call_start"):
        return {"tool_calls": [tool_call_dict(call, stream=True)]}
    if kind == "tool_args":
        return {"tool_calls": [{"index": call.index, "function": {"arguments": call.arguments}}]}
    return {}


def logprob_dict(lp: TokenLogprob) -> dict[str, Any]:
    return {
        "token": lp.token,
        "logprob": lp.logprob,
        "bytes": list(lp.bytes),
        "top_logprobs": [
            {"token": t.token, "logprob": t.logprob, "bytes": list(t.bytes)} for t in lp.top
        ],
    }


def chat_logprobs(entries: list[TokenLogprob] | tuple[TokenLogprob, ...]) -> dict[str, Any]:
    return {"content": [logprob_dict(lp) for lp in entries], "refusal": None}


@dataclass
class TextOffsets:
    """Legacy completions' logprobs: ``text_offset`` counts characters from the start of
    the prompt, as OpenAI's does."""

    start: int
    seen: dict[int, int] = field(default_factory=dict)

    def logprobs(self, index: int, entries: list[TokenLogprob]) -> dict[str, Any]:
        offset = self.seen.get(index, self.start)
        offsets = []
        for lp in entries:
            offsets.append(offset)
            offset += len(lp.token)
        self.seen[index] = offset
        return {
            "tokens": [lp.token for lp in entries],
            "token_logprobs": [lp.logprob for lp in entries],
            "top_logprobs": [{t.token: t.logprob for t in lp.top} for lp in entries],
            "text_offset": offsets,
        }


def _chat_choice(index: int, delta: Delta, logprobs: Any = None, finish: Any = None) -> Delta:
    return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}


def _text_choice(index: int, text: str, logprobs: Any = None, finish: Any = None) -> Delta:
    return {"index": index, "text": text, "logprobs": logprobs, "finish_reason": finish}


async def stream_events(
    meta: ResponseMeta, chunks: AsyncIterator[Chunk], shape: PartShape
) -> AsyncIterator[dict[str, Any]]:
    """OpenAI stream chunks for the engine's chunks: the role first (per choice), then one
    delta per part, each choice's finish reason, then (if asked) a usage chunk."""
    offsets = TextOffsets(meta.prompt_chars)
    if meta.chat:
        for index in range(meta.n):
            yield meta.envelope([_chat_choice(index, {"role": "assistant", "content": ""})])
    async for chunk in chunks:
        for part in chunk.parts:
            choice = _part_choice(meta, shape, offsets, chunk.index, part)
            if choice is not None:
                yield meta.envelope([choice])
        if chunk.finish_reason is not None:
            if meta.chat:
                yield meta.envelope([_chat_choice(chunk.index, {}, None, chunk.finish_reason)])
            else:
                yield meta.envelope([_text_choice(chunk.index, "", None, chunk.finish_reason)])
        if chunk.final:
            if meta.include_usage:
                yield meta.envelope([], chunk.usage, last=True)
            return


def _part_choice(
    meta: ResponseMeta, shape: PartShape, offsets: TextOffsets, index: int, part: Part
) -> Delta | None:
    want = meta.logprobs is not None
    if not meta.chat:
        lps = offsets.logprobs(index, list(part.logprobs)) if want else None
        return _text_choice(index, part.text, lps) if part.kind == "content" else None
    delta = shape.delta(index, part)
    if not delta:
        return None
    lps = chat_logprobs(part.logprobs) if want and part.kind == "content" else None
    return _chat_choice(index, delta, lps)


def chat_response(meta: ResponseMeta, folded: Folded, shape: PartShape) -> dict[str, Any]:
    choices = []
    for choice in folded.choices:
        message: dict[str, Any] = {
            "role": "assistant",
            **shape.message_fields(choice),
            "refusal": None,
        }
        if choice.tool_calls:
            message["tool_calls"] = [tool_call_dict(c) for c in choice.tool_calls]
            message["content"] = message["content"] or None
        lps = chat_logprobs(choice.content_logprobs) if meta.logprobs is not None else None
        choices.append(
            {
                "index": choice.index,
                "message": message,
                "logprobs": lps,
                "finish_reason": choice.finish_reason,
            }
        )
    return _response(meta, folded, choices, "chat.completion")


def completion_response(meta: ResponseMeta, folded: Folded) -> dict[str, Any]:
    choices = []
    for choice in folded.choices:
        offsets = TextOffsets(meta.prompt_chars)
        lps = offsets.logprobs(0, choice.content_logprobs) if meta.logprobs is not None else None
        choices.append(_text_choice(choice.index, choice.content, lps, choice.finish_reason))
    return _response(meta, folded, choices, "text_completion")


def _response(
    meta: ResponseMeta, folded: Folded, choices: list[dict[str, Any]], obj: str
) -> dict[str, Any]:
    base = meta.envelope(choices)
    base["object"] = obj
    base["usage"] = usage_dict(folded.usage)
    return base


@dataclass
class OpenAIWriter:
    """Chat and text completions for the SSE writer: OpenAI chunks, then ``[DONE]``; the
    non-streamed body rendered from the fold."""

    meta: ResponseMeta
    shape: PartShape
    done: SseEvent | None = SseEvent("[DONE]")
    ping: SseEvent | None = None

    async def events(self, chunks: AsyncIterator[Chunk]) -> AsyncIterator[SseEvent]:
        async for event in stream_events(self.meta, chunks, self.shape):
            yield SseEvent(event)

    def body(self, folded: Folded) -> dict[str, Any]:
        if self.meta.chat:
            return chat_response(self.meta, folded, self.shape)
        return completion_response(self.meta, folded)

    def error(self, exc: FreeholdError) -> SseEvent:
        return SseEvent(exc.to_dict())
