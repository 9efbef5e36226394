"""Where a new request goes: the idle slot, and the cached prefix it starts from.

A slot's ``cache`` holds the tokens whose KV cells it has. A new prompt reuses the
longest prefix it shares with any slot's cache: in place when that slot is idle, else
copied (``Backend.copy_seq``) from the busy slot into an idle one. When a busy slot is
still computing a prompt that shares more with the new one, the new one waits until that
prefix is computed: a system prompt shared by many chats is computed once, not per chat.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

# A copy overwrites the destination's own cache and costs a copy of a slot's KV buffer
# (milliseconds): below this gain in tokens, reuse what the idle slot has.
MIN_COPY = 16


class CachedSlot(Protocol):
    cache: list[int]  # tokens whose KV cells the slot holds
    pending: list[int]  # tokens it will decode next (a prompt still being computed)
    last_used: float

    @property
    def busy(self) -> bool: ...


S = TypeVar("S", bound=CachedSlot)


@dataclass(frozen=True)
class Placement:
    slot: CachedSlot  # the idle slot that takes the request
    reuse: int  # prompt tokens whose KV it starts with
    source: CachedSlot | None = None  # a busy slot to copy them from (None: its own)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    if a[:n] == b[:n]:  # the usual case, compared in C
        return n
    lo, hi = 0, n  # a[:lo] == b[:lo] and a[:hi] != b[:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    return lo


def place(
    prompt: list[int],
    slots: Sequence[S],
    usable: Callable[[S], bool] = lambda slot: True,
    min_copy: int = MIN_COPY,
) -> Placement | None:
    """The placement of ``prompt``, or None when it should wait: no slot is idle, or a
    busy slot is computing at least ``min_copy`` more of its prefix than any slot has.
    Only the cells of ``usable`` slots are reused (e.g. made with the same LoRA adapters)."""
    idle = [s for s in slots if not s.busy]
    if not idle:
        return None
    limit = len(prompt) - 1  # the last prompt token is always decoded: its logits sample

    def shared(slot: S, tokens: list[int]) -> int:
        return min(common_prefix(tokens, prompt), limit) if usable(slot) else 0

    own, home = max(((shared(s, s.cache), s) for s in idle), key=lambda p: (p[0], -p[1].last_used))
    oldest = min(idle, key=lambda s: s.last_used)
    busy = [s for s in slots if s.busy]
    copied, source = max(((shared(s, s.cache), s) for s in busy), default=(0, None), key=_first)
    computing = max((shared(s, s.cache + s.pending) for s in busy if len(s.pending) > 1), default=0)
    if computing - max(own, copied) >= min_copy:
        return None
    if source is not None and copied - own >= min_copy:
        return Placement(oldest, copied, source)
    return Placement(home if own else oldest, own)


def _first(pair: tuple[int, object]) -> int:
    return pair[0]
