"""Per-request output state: token bytes → text (UTF-8, stop strings, limits) → typed parts.

``SlotOutput.on_token`` is the scheduler's token step after sampling: the one place where
a generated token becomes parts, a finish reason and the tokens to force next.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from freehold.engine.parser import OutputParser, ToolParser
from freehold.engine.reasoning_budget import ThinkBudget
from freehold.engine.textstream import StopMatcher, Utf8Stream
from freehold.engine.types import FinishReason, GenerationRequest, Part, TokenLogprob

Tokenize = Callable[[str, bool], list[int]]


@dataclass
class Step:
    """What one sampled token produced: text to emit, and whether the request is done."""

    text: str = ""
    finish: FinishReason | None = None


@dataclass
class OutputState:
    max_tokens: int
    stops: StopMatcher
    utf8: Utf8Stream = field(default_factory=Utf8Stream)
    generated: int = 0

    def on_token(self, piece: bytes, eog: bool) -> Step:
        if eog:
            return Step(self.flush(), "stop")
        self.generated += 1
        safe, stopped = self.stops.feed(self.utf8.feed(piece))
        if stopped:
            return Step(safe, "stop")
        if self.generated >= self.max_tokens:
            return Step(safe + self.flush(), "length")
        return Step(safe)

    def flush(self) -> str:
        """The text held back (a partial stop string or UTF-8 sequence), at the end."""
        safe, stopped = self.stops.feed(self.utf8.finish())
        return safe if stopped else safe + self.stops.finish()


@dataclass
class Decoded:
    """One token's outcome: parts to emit, the finish reason, tokens to force next."""

    parts: list[Part]
    finish: FinishReason | None = None
    forced: list[int] = field(default_factory=list)


class SlotOutput:
    """A slot's whole output side: text, one parser (reasoning + tool calls), the budget."""

    def __init__(
        self,
        request: GenerationRequest,
        max_tokens: int,
        tokenize: Tokenize,
        tools: ToolParser | None = None,
    ) -> None:
        self.text = OutputState(max_tokens, StopMatcher(request.stop))
        self.parser = OutputParser(request.reasoning, tools)
        self.think = ThinkBudget.for_request(request, max_tokens, tokenize, self.parser.splitter)

    @property
    def reasoning_tokens(self) -> int:
        return self.think.reasoning_tokens if self.think is not None else 0

    def close_instead_of_end(self) -> list[int]:
        """The model wants to end while thinking: the closing marker's tokens (once)."""
        return self.think.close_instead_of_end() if self.think is not None else []

    def cut(self) -> Decoded:
        """The request ran out of time: the text held back, and finish "length"."""
        parts = self.parser.feed(self.text.flush(), None, None)
        return Decoded(parts + self.parser.finish(), "length")

    def on_token(
        self, token: int, piece: bytes, eog: bool, logprob: TokenLogprob | None = None
    ) -> Decoded:
        step = self.text.on_token(piece, eog)
        was_inside = self.parser.inside
        parts = self.parser.feed(step.text, None if eog else token, logprob)
        forced = self.think.after_token(was_inside) if self.think and not eog else []
        if step.finish is None:
            return Decoded(parts, None, forced)
        parts += self.parser.finish()
        finish = step.finish
        if finish == "stop" and self.parser.calls:
            finish = "tool_calls"
        return Decoded(parts, finish)
