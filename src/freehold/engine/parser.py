"""One output parser per slot: generated text → typed parts (content, reasoning, tool call).

The reasoning splitter runs first (thinking is never a tool call); the answer text then
goes through the tool-call parser of the model's family, when the request has tools.
Each part carries the generated tokens behind it: a token whose text is held back (part of
a marker) goes with the next part emitted.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from freehold.chat.reasoning_stream import Event, ThinkSplitter
from freehold.chat.reasoning_tracker import format_for_markers
from freehold.chat.tools.parsers import ArgsText, Call, CallEnd, CallStart, Piece
from freehold.engine.types import Part, ReasoningPlan, TokenLogprob, ToolCall


class ToolParser(Protocol):
    """A family's tool-call parser (``chat.tools.parsers.MarkedCalls``): answer text in,
    text and parsed calls out."""

    def feed(self, text: str) -> list[Piece]: ...

    def finish(self) -> list[Piece]: ...

    @property
    def in_call(self) -> bool:
        """A call's opening marker has been read (its body is being generated)."""
        ...


def call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


class OutputParser:
    def __init__(
        self,
        reasoning: ReasoningPlan | None,
        tools: ToolParser | None = None,
        new_id: Callable[[], str] = call_id,
    ) -> None:
        self.splitter = (
            ThinkSplitter(
                format_for_markers(reasoning.start, reasoning.end), reasoning.starts_inside
            )
            if reasoning is not None
            else None
        )
        self.tools = tools
        self.calls = 0  # calls started (a call's index)
        self.made = 0  # calls made (whole, or streamed and confirmed)
        self._open: list[ToolCall] = []  # streamed calls not yet ended, oldest first
        self._new_id = new_id
        self._tokens: list[int] = []
        self._logprobs: list[TokenLogprob] = []

    @property
    def inside(self) -> bool:
        """Inside a think block, as far as the text fed so far shows."""
        return self.splitter is not None and self.splitter.inside

    def feed(
        self, text: str, token: int | None = None, logprob: TokenLogprob | None = None
    ) -> list[Part]:
        if token is not None:
            self._tokens.append(token)
        if logprob is not None:
            self._logprobs.append(logprob)
        events: list[Event] = self.splitter.feed(text) if self.splitter else [("content", text)]
        return self._attach(self._parts(events, final=False))

    def finish(self) -> list[Part]:
        events = self.splitter.finish() if self.splitter else []
        return self._attach(self._parts(events, final=True))

    def _parts(self, events: list[Event], final: bool) -> list[Part]:
        parts: list[Part] = []
        for kind, text in events:
            if kind == "reasoning":
                parts.append(Part("reasoning", text))
            elif self.tools is None:
                if text:
                    parts.append(Part("content", text))
            else:
                parts += self._tool_parts(self.tools.feed(text))
        if final and self.tools is not None:
            parts += self._tool_parts(self.tools.finish())
        return parts

    def _tool_parts(self, pieces: list[Piece]) -> list[Part]:
        parts: list[Part] = []
        for piece in pieces:
            if isinstance(piece, str):
                if piece:
                    parts.append(Part("content", piece))
            elif isinstance(piece, ArgsText):
                call = self._open[-1]
                parts.append(Part("tool_args", call=replace(call, arguments=piece.text)))
            elif isinstance(piece, CallEnd):
                parts.append(self._end(self._open.pop(0), piece.arguments))
            else:
                parts.append(self._start(piece))
        return parts

    def _start(self, piece: Call | CallStart) -> Part:
        arguments = piece.arguments if isinstance(piece, Call) else ""
        call = ToolCall(self.calls, self._new_id(), piece.name, arguments)
        self.calls += 1
        if isinstance(piece, Call):
            self.made += 1
            return Part("tool_call", call=call)
        self._open.append(call)
        return Part("tool_call_start", call=call)

    def _end(self, call: ToolCall, arguments: str | None) -> Part:
        if arguments is None:
            return Part("tool_call_drop", call=call)
        self.made += 1
        return Part("tool_call_end", call=replace(call, arguments=arguments))

    def _attach(self, parts: list[Part]) -> list[Part]:
        if not parts or not self._tokens:
            return parts
        first = parts[0]
        parts[0] = Part(
            first.kind, first.text, first.call, tuple(self._tokens), tuple(self._logprobs)
        )
        self._tokens, self._logprobs = [], []
        return parts
