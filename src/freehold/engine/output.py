"""Per-request output state: token bytes → text (UTF-8, stop strings, limits) → typed parts.

``SlotOutput.on_token`` is the scheduler's token step after sampling: the one place where
a generated token becomes parts, a finish reason and the tokens to force next.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from freehold.chat.tools.formats import FORMATS
from freehold.engine.parser import OutputParser
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
    tail: str = ""  # the end of the generated text, before stop strings hold any back

    def on_token(self, piece: bytes, eog: bool) -> Step:
        if eog:
            return Step(self.flush(), "stop")
        self.generated += 1
        text = self.utf8.feed(piece)
        self.tail = (self.tail + text)[-64:]
        safe, stopped = self.stops.feed(text)
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
    """A slot's whole output side: text, one parser (reasoning + tool calls), the budget,
    and whether the request's grammar constrains the next token (``constrained``)."""

    def __init__(self, request: GenerationRequest, max_tokens: int, tokenize: Tokenize) -> None:
        self.text = OutputState(max_tokens, StopMatcher(request.stop))
        fmt = FORMATS[request.tool_format] if request.tool_format else None
        self.parser = OutputParser(request.reasoning, fmt.parser() if fmt else None)
        self.think = ThinkBudget.for_request(request, max_tokens, tokenize, self.parser.splitter)
        self._grammar = request.grammar
        self._trigger = fmt.trigger if fmt else ""
        self.constrained = False
        self._update_constraint()

    def _update_constraint(self) -> None:
        """A grammar applies from the first token outside thinking; a lazy one once the
        tool parser has read a call's opening marker, ending exactly at a token's end."""
        grammar, tools = self._grammar, self.parser.tools
        if grammar is None or self.constrained or self.parser.inside:
            return
        if not grammar.lazy:
            self.constrained = True
        elif tools is not None and tools.in_call and self._trigger:
            self.constrained = self.text.tail.endswith(self._trigger)

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
        self._update_constraint()
        if step.finish is None:
            return Decoded(parts, None, forced)
        parts += self.parser.finish()
        finish = step.finish
        if finish == "stop" and self.parser.made:
            finish = "tool_calls"
        return Decoded(parts, finish)
