"""Per-request output state: token bytes → text deltas, stop strings, limits, finish reason."""

from __future__ import annotations

from dataclasses import dataclass, field

from freehold.engine.textstream import StopMatcher, Utf8Stream
from freehold.engine.types import FinishReason


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
            return Step(self._flush(), "stop")
        self.generated += 1
        safe, stopped = self.stops.feed(self.utf8.feed(piece))
        if stopped:
            return Step(safe, "stop")
        if self.generated >= self.max_tokens:
            return Step(safe + self._flush(), "length")
        return Step(safe)

    def _flush(self) -> str:
        safe, stopped = self.stops.feed(self.utf8.finish())
        return safe if stopped else safe + self.stops.finish()
