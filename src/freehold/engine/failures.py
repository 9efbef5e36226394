"""What the scheduler answers when generating fails, and whom a full KV cache fails.

The scheduler decides when; this module says with what: the error each kind of failure
gives the client, and the one request a full KV cache costs.
"""

from __future__ import annotations

from freehold.engine.jobs import Slot
from freehold.errors import FreeholdError


def internal_error(exc: BaseException) -> FreeholdError:
    """A step failed for this request (a bug or llama.cpp's error): a 500, the loop goes on."""
    return FreeholdError(
        f"internal error while generating: {type(exc).__name__}",
        status=500,
        type="server_error",
        code="internal_error",
    )


def shutting_down() -> FreeholdError:
    return FreeholdError(
        "server shutting down", status=503, type="server_error", code="shutting_down"
    )


def kv_cache_full() -> FreeholdError:
    """The request that outgrew the context memory: retryable, the others go on."""
    return FreeholdError(
        "the model ran out of context memory for this request; retry",
        status=503,
        type="server_error",
        code="kv_cache_full",
        headers={"Retry-After": "1"},
    )


def engine_failed(reason: str, status: int = 500) -> FreeholdError:
    """The scheduler thread died: a 500 for every request it held, a 503 for every later
    one."""
    return FreeholdError(
        f"the server cannot generate any more ({reason}); restart it",
        status=status,
        type="server_error",
        code="engine_failed",
    )


def kv_victim(slots: list[Slot], per_slot: int) -> Slot:
    """Of the slots of a batch that found the KV cache full: the one that outgrew its own
    share of the context (``per_slot`` cells), else the newest."""
    over = [s for s in slots if len(s.cache) + len(s.pending) > per_slot]
    return max(over or slots, key=lambda s: s.order)
