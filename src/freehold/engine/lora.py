"""LoRA adapters: what a model offers, and which adapters (with scales) a request wants.

llama.cpp applies adapters to a whole context, not to one sequence, so the scheduler
decodes the slots of one adapter choice at a time (see Scheduler._step); a slot's cached
prefix is reused only by a request with the same choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# A request's adapters: (name, scale) pairs, sorted, without zero scales; () is the base model.
AdapterChoice = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Adapter:
    """A LoRA adapter of one model, reached as ``MODEL:NAME`` or by a request's ``lora``."""

    name: str
    path: Path
    scale: float = 1.0


def normalize_choice(pairs: list[tuple[str, float]]) -> AdapterChoice:
    """One canonical form per set of adapters: sorted by name, zero scales dropped (a
    scale of 0 is the base model), the last scale given for a name winning."""
    chosen = dict(pairs)
    return tuple(sorted((name, scale) for name, scale in chosen.items() if scale != 0))
