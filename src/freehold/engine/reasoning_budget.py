"""Thinking-token budget inside the scheduler: counts thinking tokens, closes the block."""

from __future__ import annotations

from collections.abc import Callable

from freehold.engine.types import GenerationRequest


class ThinkBudget:
    """Placeholder until the reasoning tracker lands: requests without a plan get None."""

    reasoning_tokens = 0

    @classmethod
    def for_request(
        cls,
        request: GenerationRequest,
        max_tokens: int,
        tokenize: Callable[[str, bool], list[int]],
    ) -> ThinkBudget | None:
        return None

    def after_token(self, text: str, generated: int) -> list[int]:
        return []
