"""The non-streamed answer: the fold of the very parts a stream sends (dialect-neutral).

Every dialect folds the engine's chunks with ``fold_chunks`` and renders the result in
its own wire format once, at the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

from freehold.engine.types import Chunk, FinishReason, TokenLogprob, ToolCall, Usage


@dataclass
class Choice:
    """One choice's whole output: answer text, thinking, tool calls, and the logprobs of
    every generated token (``content_logprobs``: those behind content parts only)."""

    index: int = 0
    content: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    content_logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: FinishReason | None = None
    stop_sequence: str | None = None

    def add(self, chunk: Chunk) -> None:
        for part in chunk.parts:
            self.logprobs += part.logprobs
            if part.kind == "content":
                self.content += part.text
                self.content_logprobs += part.logprobs
            elif part.kind == "reasoning":
                self.reasoning += part.text
            elif part.call is not None:
                self._call(part.kind, part.call)
        self.finish_reason = chunk.finish_reason or self.finish_reason
        self.stop_sequence = chunk.stop_sequence or self.stop_sequence

    def _call(self, kind: str, call: ToolCall) -> None:
        """A whole call, or a streamed call's start, fragment, end or drop."""
        if kind in ("tool_call", "tool_call_start"):
            self.tool_calls.append(call)
            return
        at = next(i for i, c in enumerate(self.tool_calls) if c.index == call.index)
        if kind == "tool_call_drop":
            del self.tool_calls[at]
        elif kind == "tool_args":
            whole = self.tool_calls[at].arguments + call.arguments
            self.tool_calls[at] = replace(call, arguments=whole)
        else:
            self.tool_calls[at] = call


@dataclass
class Folded:
    choices: list[Choice]
    usage: Usage


async def fold_chunks(chunks: AsyncIterator[Chunk]) -> Folded:
    """All chunks of one request, folded per choice index (sorted by index)."""
    choices: dict[int, Choice] = {}
    usage = Usage()
    async for chunk in chunks:
        choices.setdefault(chunk.index, Choice(chunk.index)).add(chunk)
        if chunk.usage is not None:
            usage = chunk.usage
    return Folded([choices[i] for i in sorted(choices)], usage)
