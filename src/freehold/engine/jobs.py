"""A request's job and the slots that run it: the scheduler's bookkeeping.

A job with ``n`` choices runs on ``n`` slots at once: the first (choice 0) evaluates the
prompt; the others wait for it, then take a copy of its KV cells and sample from the
same logits (``Slot.siblings``). The job's ``usage`` adds up every choice.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from freehold.engine.lora import AdapterChoice
from freehold.engine.output import SlotOutput
from freehold.engine.types import Chunk, GenerationRequest, Usage
from freehold.errors import FreeholdError


@dataclass(eq=False)
class Job:
    request: GenerationRequest
    prompt: list[int]
    max_tokens: int
    emit: Callable[[Chunk | BaseException], object]
    cancelled: bool = False
    submitted: float = field(default_factory=time.monotonic)
    usage: Usage = field(default_factory=Usage)  # all choices together
    running: int = 0  # choices not finished yet
    answered: bool = False  # an error went out: nothing more does
    deadline: float = math.inf  # time.monotonic() by which it must end (--request-timeout)
    images: dict[int, Any] = field(default_factory=dict)  # image token → its row (vision.py)

    def send_error(self, error: BaseException) -> None:
        if not self.answered:
            self.answered = True
            self.emit(error)

    def send(self, chunk: Chunk) -> None:
        if not (self.answered or self.cancelled):
            self.emit(chunk)


def make_job(
    request: GenerationRequest,
    prompt: list[int],
    n_ctx_slot: int,
    emit: Callable[[Chunk | BaseException], object],
    server_timeout: float = 0.0,
) -> Job:
    """The job for ``request``; a 400 when its prompt is empty or leaves no room in a
    slot. ``server_timeout``: --request-timeout (0: none; the request may ask for less)."""
    if not prompt:
        raise FreeholdError(
            "the prompt is empty (and this model adds no start token): send some text",
            param="prompt",
            code="empty_prompt",
        )
    room = n_ctx_slot - len(prompt)
    if room <= 0:
        raise FreeholdError(
            f"this request has {len(prompt)} prompt tokens but the context of a slot is "
            f"{n_ctx_slot} tokens; shorten the prompt or raise --ctx-size",
            param="messages",
            code="context_length_exceeded",
        )
    job = Job(request, prompt, min(request.max_tokens or room, room), emit)
    if server_timeout:
        job.deadline = job.submitted + server_timeout
    return job


@dataclass(eq=False)
class Slot:
    seq: int
    cache: list[int] = field(default_factory=list)
    job: Job | None = None
    pending: list[int] = field(default_factory=list)
    forced: list[int] = field(default_factory=list)
    sampler: Any = None
    out: SlotOutput | None = None
    usage: Usage = field(default_factory=Usage)
    last_used: float = 0.0
    admitted: float = 0.0
    order: int = 0  # admission number: the highest is the newest
    choice: int = 0  # the job's choice index this slot generates
    siblings: list[Slot] = field(default_factory=list)  # waiting for this slot's prompt
    adapters: AdapterChoice = ()  # the LoRA adapters its cached KV cells were made with

    @property
    def busy(self) -> bool:
        return self.job is not None


def made_with(adapters: AdapterChoice) -> Callable[[Slot], bool]:
    """Whether a slot's cells were made with ``adapters``."""
    return lambda slot: slot.adapters == adapters


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
