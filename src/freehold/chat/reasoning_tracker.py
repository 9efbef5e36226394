"""Thinking-token accounting for the engine: when to close a think block early.

The engine calls ``BudgetTracker.feed`` once per generated token with that token's text
(possibly empty, possibly part of a marker). The tracker knows when the think block is
open, counts the tokens spent in it, and returns the text to inject (the family's
``close``) when the thinking budget is spent or when only the answer's reserve of
``max_tokens`` is left. The injected tokens are fed back like any other and close the
block. Pure and O(len(piece)) per call.
"""

from __future__ import annotations

from freehold.chat.reasoning_formats import (
    ReasoningFormat,
    harmony,
    mistral_think,
    think_tags,
)
from freehold.chat.reasoning_stream import ThinkSplitter


def format_for_markers(start: str, end: str) -> ReasoningFormat:
    """The known family with these markers, else a generic one closing with ``end``."""
    for fmt in (think_tags(), mistral_think(), harmony()):
        if (fmt.start, fmt.end) == (start, end):
            return fmt
    return ReasoningFormat(
        name="custom", start=start, end=end, open=f"{start}\n", close=f"\n{end}\n\n"
    )


def answer_reserve(max_tokens: int, close_tokens: int = 0) -> int:
    """Tokens of ``max_tokens`` kept for the answer: thinking is closed before them.

    An eighth of the completion (16 to 512 tokens) plus the closing tokens, never more
    than half of ``max_tokens``.
    """
    return min(max_tokens // 2, close_tokens + max(16, min(512, max_tokens // 8)))


class BudgetTracker:
    """Counts thinking tokens and says when the engine must close the block.

    ``budget``: thinking tokens allowed (None: unlimited). ``max_tokens`` and ``reserve``:
    the block is also closed once no more than ``reserve`` tokens of ``max_tokens`` are
    left, so thinking never eats the answer. Tokens of the closing text count as thinking.
    """

    def __init__(
        self,
        fmt: ReasoningFormat,
        *,
        starts_inside: bool = False,
        budget: int | None = None,
        max_tokens: int | None = None,
        reserve: int = 0,
        splitter: ThinkSplitter | None = None,
    ) -> None:
        self.fmt = fmt
        self.budget = budget
        self.max_tokens = max_tokens
        self.reserve = reserve
        self.generated = 0
        self.reasoning_tokens = 0
        self.closed_early = False  # the tracker closed a block at least once
        # The engine's output parser owns the splitter and feeds it (see ``count``); a
        # tracker made without one splits for itself (``feed``).
        self._split = splitter or ThinkSplitter(fmt, starts_inside)
        self._closing = False

    @property
    def inside(self) -> bool:
        """The think block is open (as far as the text fed so far shows)."""
        return self._split.inside

    def feed(self, piece: str) -> str:
        """Account one generated token; the text to inject now, or ""."""
        was_inside = self._split.inside
        self._split.feed(piece)
        return self.count(was_inside)

    def count(self, was_inside: bool) -> str:
        """Account one generated token whose text the shared splitter has already been
        fed (``was_inside``: its state before); the text to inject now, or ""."""
        self.generated += 1
        if was_inside or self._split.inside:
            self.reasoning_tokens += 1
        if not self._split.inside:
            self._closing = False
            return ""
        if self._closing or not self._spent():
            return ""
        self._closing = self.closed_early = True
        return self.fmt.close

    def _spent(self) -> bool:
        if self.budget is not None and self.reasoning_tokens >= self.budget:
            return True
        return self.max_tokens is not None and self.max_tokens - self.generated <= self.reserve
