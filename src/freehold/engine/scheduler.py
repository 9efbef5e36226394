"""The scheduler thread: the one owner of llama.cpp.

Every step runs one ``llama_decode`` over all active sequences: the next token of each
running request plus chunks of newly admitted prompts. Requests join and leave between
steps. Each slot keeps the tokens whose KV cells it holds, so a new request reuses the
longest common prefix of an idle slot (the least recently used slot is evicted otherwise).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from freehold.engine.backend import Backend, DecodeError
from freehold.engine.output import SlotOutput
from freehold.engine.types import Chunk, GenerationRequest, Usage
from freehold.errors import FreeholdError

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Job:
    request: GenerationRequest
    prompt: list[int]
    max_tokens: int
    emit: Callable[[Chunk | BaseException], object]
    cancelled: bool = False
    submitted: float = field(default_factory=time.monotonic)


def make_job(
    request: GenerationRequest,
    prompt: list[int],
    n_ctx_slot: int,
    emit: Callable[[Chunk | BaseException], object],
) -> Job:
    """The job for ``request``; a 400 when its prompt leaves no room in a slot."""
    room = n_ctx_slot - len(prompt)
    if room <= 0 or not prompt:
        raise FreeholdError(
            f"this request has {len(prompt)} prompt tokens but the context of a slot is "
            f"{n_ctx_slot} tokens; shorten the prompt or raise --ctx-size",
            param="messages",
            code="context_length_exceeded",
        )
    return Job(request, prompt, min(request.max_tokens or room, room), emit)


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


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class Scheduler:
    def __init__(self, backend: Backend, n_slots: int, max_queue: int) -> None:
        self.backend = backend
        self.slots = [Slot(seq=i) for i in range(n_slots)]
        self.max_queue = max_queue
        self._inbox: queue.Queue[Job | None] = queue.Queue()
        self._waiting: deque[Job] = deque()
        self._lock = threading.Lock()
        self._inflight = 0
        self._thread = threading.Thread(target=self._run, name="freehold-scheduler", daemon=True)

    # -- event-loop side ------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job) -> None:
        with self._lock:
            if self._inflight >= len(self.slots) + self.max_queue:
                raise FreeholdError(
                    f"server busy: {len(self.slots)} slots in use and {self.max_queue} requests "
                    "waiting; retry shortly",
                    status=429,
                    type="rate_limit_error",
                    code="queue_full",
                    headers={"Retry-After": "1"},
                )
            self._inflight += 1
        self._inbox.put(job)

    def stop(self) -> None:
        self._inbox.put(None)
        self._thread.join(timeout=30)

    def load(self) -> dict[str, int]:
        busy = sum(1 for s in self.slots if s.job is not None)
        with self._lock:
            return {"slots": len(self.slots), "busy": busy, "inflight": self._inflight}

    # -- scheduler thread -----------------------------------------------------------------
    def tick(self, block: bool) -> bool:
        """One round: take new jobs (waiting for one when ``block`` and idle), drop the
        cancelled, admit, decode one step. False once ``stop`` was asked."""
        idle = not self._waiting and all(s.job is None for s in self.slots)
        if not self._take_inbox(block=block and idle):
            return False
        self._drop_cancelled()
        self._admit()
        if any(s.job is not None for s in self.slots):
            self._step()
        return True

    def _run(self) -> None:
        while self.tick(block=True):
            pass
        for slot in self.slots:
            if slot.job is not None:
                self._finish(
                    slot,
                    error=FreeholdError("server shutting down", status=503, type="server_error"),
                )

    def _take_inbox(self, block: bool) -> bool:
        try:
            item = self._inbox.get(block=block)
            while True:
                if item is None:
                    return False
                self._waiting.append(item)
                item = self._inbox.get_nowait()
        except queue.Empty:
            return True

    def _drop_cancelled(self) -> None:
        for job in [j for j in self._waiting if j.cancelled]:
            self._waiting.remove(job)
            self._release()
        for slot in self.slots:
            if slot.job is not None and slot.job.cancelled:
                self._finish(slot)

    def _admit(self) -> None:
        while self._waiting:
            idle = [s for s in self.slots if s.job is None]
            if not idle:
                return
            job = self._waiting.popleft()
            shared, best = max(
                ((common_prefix(s.cache, job.prompt), s) for s in idle),
                key=lambda pair: (pair[0], -pair[1].last_used),
            )
            reuse = min(shared, len(job.prompt) - 1)
            if reuse == 0:
                best = min(idle, key=lambda s: s.last_used)
            self._start(best, job, reuse)

    def _start(self, slot: Slot, job: Job, reuse: int) -> None:
        if len(slot.cache) > reuse:
            self.backend.forget(slot.seq, reuse)
            del slot.cache[reuse:]
        req = job.request
        slot.job = job
        slot.pending = job.prompt[reuse:]
        slot.forced = []
        slot.sampler = self.backend.make_sampler(req)
        slot.out = SlotOutput(req, job.max_tokens, self.backend.tokenize)
        slot.usage = Usage(prompt_tokens=len(job.prompt), cached_tokens=reuse)
        slot.admitted = time.monotonic()

    def _step(self) -> None:
        entries: list[tuple[int, int, int, bool]] = []
        sampled: list[tuple[Slot, int]] = []
        active = [s for s in self.slots if s.job is not None]
        # running streams first (one token each), then prompt chunks in the remaining room
        for slot in sorted(active, key=lambda s: len(s.pending) > 1):
            room = self.backend.n_batch - len(entries)
            if room <= 0:
                break
            take = slot.pending[:room]
            done = len(take) == len(slot.pending)
            base = len(slot.cache)
            for i, tok in enumerate(take):
                last = done and i == len(take) - 1
                entries.append((tok, base + i, slot.seq, last))
            if done:
                sampled.append((slot, len(entries) - 1))
            slot.cache.extend(take)
            del slot.pending[: len(take)]
        try:
            self.backend.decode(entries)
        except DecodeError as exc:
            self._decode_failed(active, exc)
            return
        for slot, index in sampled:
            self._on_logits(slot, index)

    def _on_logits(self, slot: Slot, index: int) -> None:
        assert slot.job is not None and slot.out is not None
        forced = bool(slot.forced)
        token = slot.forced.pop(0) if forced else self.backend.sample(slot.sampler, index)
        if not forced and self.backend.is_eog(token):
            slot.forced = slot.out.close_instead_of_end()
            if slot.forced:
                token, forced = slot.forced.pop(0), True
        eog = not forced and self.backend.is_eog(token)
        piece = self.backend.piece(token, slot.job.request.special)
        step = slot.out.on_token(token, piece, eog)
        if not eog:
            slot.usage.completion_tokens += 1
            if slot.usage.completion_tokens == 1:
                self._log_first_token(slot)
            slot.forced += [] if slot.forced else step.forced
            slot.usage.reasoning_tokens = slot.out.reasoning_tokens
        if step.finish is not None:
            self._finish(slot, Chunk(step.parts, step.finish, slot.usage))
            return
        if step.parts:
            slot.job.emit(Chunk(step.parts))
        slot.pending = [token]

    def _log_first_token(self, slot: Slot) -> None:
        if log.isEnabledFor(logging.DEBUG) and slot.job is not None:
            log.debug(
                "%s: %.1f ms waiting for a slot, first token %.1f ms after admission "
                "(%d prompt tokens, %d cached, %d slots busy)",
                slot.job.request.request_id,
                (slot.admitted - slot.job.submitted) * 1e3,
                (time.monotonic() - slot.admitted) * 1e3,
                slot.usage.prompt_tokens,
                slot.usage.cached_tokens,
                sum(s.job is not None for s in self.slots),
            )

    def _finish(
        self, slot: Slot, last: Chunk | None = None, error: BaseException | None = None
    ) -> None:
        """End the slot's job: send ``last`` (or ``error``) unless it was cancelled."""
        job = slot.job
        assert job is not None
        if error is not None:
            job.emit(error)
        elif not job.cancelled and last is not None:
            job.emit(last)
        self.backend.free_sampler(slot.sampler)
        slot.job, slot.sampler, slot.out = None, None, None
        slot.pending, slot.forced = [], []
        slot.last_used = time.monotonic()
        self._release()

    def _release(self) -> None:
        with self._lock:
            self._inflight -= 1

    def _decode_failed(self, active: list[Slot], exc: DecodeError) -> None:
        log.error("decode failed (%s); failing %d request(s)", exc, len(active))
        for slot in active:
            self.backend.forget(slot.seq)
            slot.cache = []
            self._finish(
                slot,
                error=FreeholdError(
                    "the model ran out of context memory for this batch; retry",
                    status=503,
                    type="server_error",
                    code="kv_cache_full",
                    headers={"Retry-After": "1"},
                ),
            )
