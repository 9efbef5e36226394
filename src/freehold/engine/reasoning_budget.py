"""Thinking-token budget inside the scheduler: counts thinking tokens, closes the block.

A thin adapter from the request's ReasoningPlan to chat/reasoning's BudgetTracker: when
the tracker says the block must close, its closing text becomes forced tokens.
"""

from __future__ import annotations

from collections.abc import Callable

from freehold.chat.reasoning import (
    BudgetTracker,
    ThinkSplitter,
    answer_reserve,
    format_for_markers,
)
from freehold.engine.types import GenerationRequest

Tokenize = Callable[[str, bool], list[int]]


class ThinkBudget:
    def __init__(self, tracker: BudgetTracker, tokenize: Tokenize) -> None:
        self.tracker = tracker
        self._tokenize = tokenize
        self._closed_on_end = False

    @classmethod
    def for_request(
        cls,
        request: GenerationRequest,
        max_tokens: int,
        tokenize: Tokenize,
        splitter: ThinkSplitter | None = None,
    ) -> ThinkBudget | None:
        """The budget of a thinking request, counting on ``splitter`` (the slot's output
        parser's) when given; None when the request does not think."""
        plan = request.reasoning
        if plan is None or not plan.thinking:
            return None
        fmt = format_for_markers(plan.start, plan.end)
        close_tokens = len(tokenize(fmt.close, False))
        reserve = plan.reserve or answer_reserve(max_tokens, close_tokens)
        tracker = BudgetTracker(
            fmt,
            starts_inside=plan.starts_inside,
            budget=plan.budget,
            max_tokens=max_tokens,
            reserve=reserve,
            splitter=splitter,
        )
        return cls(tracker, tokenize)

    @property
    def reasoning_tokens(self) -> int:
        return self.tracker.reasoning_tokens

    def close_instead_of_end(self) -> list[int]:
        """The model wants to stop while still thinking: the closing marker's tokens
        instead (once), so that it goes on to answer. Empty when not thinking."""
        if not self.tracker.inside or self._closed_on_end:
            return []
        self._closed_on_end = True
        return self._tokenize(self.tracker.fmt.close, False)

    def after_token(self, was_inside: bool) -> list[int]:
        """Account one generated token, whose text the shared splitter has been fed
        (``was_inside``: its state before); the tokens to force next (the closing marker)."""
        inject = self.tracker.count(was_inside)
        return self._tokenize(inject, False) if inject else []
