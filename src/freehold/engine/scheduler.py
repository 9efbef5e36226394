"""The scheduler thread: the one owner of llama.cpp.

Every step runs one ``llama_decode`` over all active sequences: the next token of each
running request plus chunks of newly admitted prompts. Requests join and leave between
steps. Each slot keeps the tokens whose KV cells it holds, so a new request reuses the
longest common prefix of an idle slot (the least recently used slot is evicted otherwise).

An error inside a step fails only the requests it touched (a 500 for them) and the loop
goes on. Should the thread die anyway, every request it held is answered and
``failure`` says why, so that /health turns 503.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from freehold.engine.backend import Backend, DecodeError
from freehold.engine.failures import (
    engine_failed,
    internal_error,
    kv_cache_full,
    kv_victim,
    shutting_down,
)
from freehold.engine.job_queue import JobQueue
from freehold.engine.jobs import Job, Slot, made_with
from freehold.engine.lora import AdapterChoice
from freehold.engine.output import SlotOutput
from freehold.engine.prefix import place
from freehold.engine.types import Chunk, Usage
from freehold.engine.vision import first_image_token, leading_image_tokens
from freehold.errors import FreeholdError

log = logging.getLogger(__name__)


def _lru(slot: Slot) -> float:
    return slot.last_used


class Scheduler:
    def __init__(
        self,
        backend: Backend,
        n_slots: int,
        max_queue: int,
        flush: Callable[[], None] = lambda: None,
    ) -> None:
        """``flush``: sends what the requests got so far (engine/mailbox.py). The thread
        calls it just before each llama_decode, where it lets go of the GIL, so that the
        event loop's work on the chunks runs beside the decode instead of holding up the
        next step; and before it sleeps with nothing to decode."""
        self.backend = backend
        self._flush = flush
        self.slots = [Slot(seq=i) for i in range(n_slots)]
        self.jobs = JobQueue(n_slots, max_queue)
        self._admissions = 0
        self._drain_by = math.inf  # set at shutdown: every job ends by then
        self._turn = 0
        self._applied: AdapterChoice = ()  # the LoRA adapters the context has now
        self._thread = threading.Thread(target=self._run, name="freehold-scheduler", daemon=True)

    # -- event-loop side ------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    @property
    def failure(self) -> str | None:
        """Why the thread died (then every request is refused with it), else None."""
        return self.jobs.failure

    def submit(self, job: Job) -> None:
        self.jobs.submit(job)

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop the thread after its current step; every request still waiting or running
        is answered "server shutting down". True once the thread is gone: only then may
        the caller free llama.cpp (the thread may be inside ``llama_decode``)."""
        self.jobs.close()
        if self._thread.ident is not None:
            self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("the scheduler thread did not stop within %.0f s", timeout)
            return False
        return True

    def drain(self, seconds: float) -> None:
        """Shutdown: every job, running or waiting, ends within ``seconds``."""
        self._drain_by = time.monotonic() + seconds

    def load(self) -> dict[str, int]:
        busy = sum(1 for s in self.slots if s.job is not None)
        return {"slots": len(self.slots), "busy": busy, "inflight": self.jobs.inflight()}

    # -- scheduler thread -----------------------------------------------------------------
    def tick(self, block: bool) -> bool:
        """One round: take new jobs (waiting for one when ``block`` and idle), drop the
        cancelled, admit, decode one step. False once ``stop`` was asked."""
        idle = not self.jobs.waiting and all(s.job is None for s in self.slots)
        if block and idle:
            self._flush()
        if not self.jobs.take(block=block and idle):
            return False
        try:
            self._drop_cancelled()
            self._expire()
            self._admit()
            if any(s.job is not None for s in self.slots):
                self._step()
        except Exception as exc:  # not pinned on one slot: fail every running job
            log.exception("scheduler step failed; failing the running requests")
            for slot in self.slots:
                if slot.job is not None:
                    self._fail(slot, internal_error(exc), forget=True)
        return True

    def _run(self) -> None:
        try:
            while self.tick(block=True):
                pass
        except BaseException as exc:  # the thread dies: nothing may wait for it any more
            self._die(exc)
            self._flush()
            return
        self._answer_all(shutting_down())
        self._flush()

    def _drop_cancelled(self) -> None:
        for job in [j for j in self.jobs.waiting if j.cancelled]:
            self.jobs.waiting.remove(job)
            self.jobs.release()
        for slot in self.slots:
            if slot.job is not None and slot.job.cancelled:
                self._finish(slot)

    def _expire(self) -> None:
        """End the running jobs past their deadline or the drain: each finishes with
        "length" and what it generated so far. At the drain, waiting jobs get a 503.
        (A waiting job never outlives its deadline: the queue is FIFO, so the job ahead,
        with an earlier deadline, frees the slot first.)"""
        now = time.monotonic()
        draining = self._drain_by <= now
        for job in list(self.jobs.waiting) if draining else []:
            self.jobs.waiting.remove(job)
            job.emit(shutting_down())
            self.jobs.release()
        for slot in self.slots:
            if slot.job is not None and (draining or slot.job.deadline <= now):
                assert slot.out is not None
                step = slot.out.cut()
                self._finish(slot, Chunk(step.parts, step.finish, index=slot.choice))

    def _admit(self) -> None:
        """Start waiting jobs in idle slots, oldest first; a job whose prefix a busy slot
        is still computing waits for it (engine/prefix.py), the next ones may go ahead. A
        job of n choices needs n idle slots at once: it waits at the head of the queue."""
        for job in list(self.jobs.waiting):
            n = max(1, job.request.n)
            if sum(not s.busy for s in self.slots) < n:
                return
            # cells made with other LoRA adapters do not fit
            placement = place(job.prompt, self.slots, made_with(job.request.adapters))
            if placement is None:
                continue
            self.jobs.waiting.remove(job)
            best = placement.slot
            assert isinstance(best, Slot)
            idle = sorted((s for s in self.slots if not s.busy and s is not best), key=_lru)
            group = [best, *idle[: n - 1]]
            for slot in group:
                slot.job = job
                self._admissions += 1
                slot.order = self._admissions
            job.running = len(group)
            job.usage = Usage(prompt_tokens=len(job.prompt), cached_tokens=placement.reuse)
            try:
                if isinstance(placement.source, Slot):
                    self._copy_prefix(placement.source, best)
                for choice, slot in enumerate(group):
                    self._start(slot, job, placement.reuse if choice == 0 else 0, choice)
                best.siblings = group[1:]
            except FreeholdError as exc:  # the request's own fault (a grammar that fails)
                for slot in group:
                    self._fail(slot, exc)
            except Exception as exc:
                log.exception("%s: could not start", job.request.request_id)
                for slot in group:
                    self._fail(slot, internal_error(exc), forget=True)

    def _copy_prefix(self, source: Slot, slot: Slot) -> None:
        """Give ``slot`` a copy of ``source``'s KV cells (made before the next decode)."""
        self.backend.copy_seq(source.seq, slot.seq)
        slot.cache = list(source.cache)

    def _start(self, slot: Slot, job: Job, reuse: int, choice: int = 0) -> None:
        if len(slot.cache) > reuse:
            self.backend.forget(slot.seq, reuse)
            del slot.cache[reuse:]
        req = job.request
        if choice and req.sampling.seed is not None:  # n > 1 with a seed: one per choice
            req = replace(req, sampling=replace(req.sampling, seed=req.sampling.seed + choice))
        slot.sampler = self.backend.make_sampler(req)  # a FreeholdError for a bad grammar
        slot.adapters = req.adapters
        slot.choice = choice
        slot.pending = job.prompt[reuse:] if choice == 0 else []
        slot.forced = []
        slot.out = SlotOutput(req, job.max_tokens, self.backend.tokenize)
        slot.usage = Usage(prompt_tokens=len(job.prompt), cached_tokens=reuse)
        slot.admitted = time.monotonic()
        if req.timeout:  # the request's own limit counts from here, as llama-server's does
            job.deadline = min(job.deadline, slot.admitted + req.timeout)

    def _fork(self, slot: Slot) -> list[Slot]:
        """The prompt of ``slot`` is evaluated: its waiting siblings take a copy of its
        KV cells (and sample from the same logits)."""
        siblings, slot.siblings = slot.siblings, []
        for sibling in siblings:
            self.backend.copy_seq(slot.seq, sibling.seq)
            sibling.cache = list(slot.cache)
        return siblings

    def _step(self) -> None:
        entries: list[tuple[int, int, int, bool]] = []
        sampled: list[tuple[Slot, int]] = []
        batch: list[tuple[Slot, int, list[int]]] = []  # slot, cache length, pending before
        ready = [s for s in self.slots if s.job is not None and s.pending]
        if not ready:  # only n > 1 siblings, waiting for their first slot
            return
        active = self._adapter_group(ready)
        if active[0].adapters != self._applied:  # a failure here fails every running job
            self.backend.use_adapters(active[0].adapters)
            self._applied = active[0].adapters
        imaging = self._decode_images(active)
        # running streams first (one token each), then prompt chunks in the remaining room
        for slot in sorted(active, key=lambda s: len(s.pending) > 1):
            room = self.backend.n_batch - len(entries)
            if room <= 0:
                break
            if slot in imaging or slot.job is None:
                continue
            batch.append((slot, len(slot.cache), list(slot.pending)))
            take = slot.pending[:room]
            take = take[: first_image_token(take)]  # text up to the next image
            done = len(take) == len(slot.pending)
            base = len(slot.cache)
            for i, tok in enumerate(take):
                last = done and i == len(take) - 1
                entries.append((tok, base + i, slot.seq, last))
            if done:
                sampled.append((slot, len(entries) - 1))
            slot.cache.extend(take)
            del slot.pending[: len(take)]
        if not entries:
            return
        self._flush()
        try:
            self.backend.decode(entries)
        except Exception as exc:
            self._decode_failed(batch, exc)
            return
        for first, index in sampled:
            for slot in [first, *self._fork(first)]:
                try:
                    self._on_logits(slot, index)
                except Exception as exc:
                    log.exception(
                        "%s: failed after a decode", slot.job and slot.job.request.request_id
                    )
                    self._fail(slot, internal_error(exc))

    def _decode_images(self, active: list[Slot]) -> list[Slot]:
        """Image rows cannot share a batch with tokens: each slot whose prompt goes on
        with an image decodes up to a batch of its rows in a llama_decode of its own (as
        long as a text prompt chunk of that many tokens takes). The slots it did this for."""
        imaging = [s for s in active if s.pending and s.pending[0] < 0]
        for slot in imaging:
            assert slot.job is not None
            run = slot.pending[: min(leading_image_tokens(slot.pending), self.backend.n_batch)]
            base = len(slot.cache)
            try:
                rows = [slot.job.images[t] for t in run]
                self._flush()
                self.backend.decode_embeddings(rows, base, slot.seq)
            except Exception as exc:
                self._decode_failed([(slot, base, list(slot.pending))], exc)
                continue
            slot.cache.extend(run)
            del slot.pending[: len(run)]
        return imaging

    def _adapter_group(self, active: list[Slot]) -> list[Slot]:
        """The slots decoded this step: llama.cpp applies LoRA adapters to the whole
        context, so one step serves one adapter choice; the choices take turns."""
        choices = sorted({s.adapters for s in active})
        if len(choices) == 1:
            return active
        self._turn = (self._turn + 1) % len(choices)
        return [s for s in active if s.adapters == choices[self._turn]]

    def _on_logits(self, slot: Slot, index: int) -> None:
        assert slot.job is not None and slot.out is not None
        forced = bool(slot.forced)
        request = slot.job.request
        constrained = slot.out.constrained
        token = (
            slot.forced.pop(0) if forced else self.backend.sample(slot.sampler, index, constrained)
        )
        if not forced and self.backend.is_eog(token):
            slot.forced = slot.out.close_instead_of_end()
            if slot.forced:
                token, forced = slot.forced.pop(0), True
        eog = not forced and self.backend.is_eog(token)
        piece = self.backend.piece(token, request.special)
        logprob = None
        if request.logprobs is not None and not eog:
            logprob = self.backend.token_logprob(index, token, request.logprobs)
        step = slot.out.on_token(token, piece, eog, logprob)
        if not eog:
            slot.usage.completion_tokens += 1
            if slot.usage.completion_tokens == 1:
                self._log_first_token(slot)
            slot.forced += [] if slot.forced else step.forced
            slot.usage.reasoning_tokens = slot.out.reasoning_tokens
        if step.finish is not None:
            stop = slot.out.text.stops.matched
            chunk = Chunk(step.parts, step.finish, index=slot.choice, stop_sequence=stop)
            self._finish(slot, chunk)
            return
        if step.parts:
            slot.job.send(Chunk(step.parts, index=slot.choice))
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
        """End the slot's choice: send ``last`` (or ``error``) unless the job was cancelled
        or answered; the job's last choice carries the usage of all and frees the job."""
        job = slot.job
        assert job is not None
        job.running -= 1
        job.usage.completion_tokens += slot.usage.completion_tokens
        job.usage.reasoning_tokens += slot.usage.reasoning_tokens
        if error is not None:
            job.send_error(error)
        elif last is not None:
            last.usage = job.usage if job.running == 0 else None
            job.send(last)
        if slot.sampler is not None:
            self.backend.free_sampler(slot.sampler)
        slot.job, slot.sampler, slot.out = None, None, None
        slot.pending, slot.forced = [], []
        slot.last_used = time.monotonic()
        for sibling in slot.siblings:  # still waiting for this slot's prompt
            self._finish(sibling, error=error)
        slot.siblings = []
        if job.running == 0:
            self.jobs.release()

    def _fail(self, slot: Slot, error: FreeholdError, forget: bool = False) -> None:
        """Answer ``slot``'s job with ``error``; ``forget``: its KV cells are suspect."""
        if forget:
            slot.cache = []
            self.backend.forget(slot.seq)
        self._finish(slot, error=error)

    def _decode_failed(self, batch: list[tuple[Slot, int, list[int]]], exc: Exception) -> None:
        """Undo the step, then fail what must fail: on a full KV cache, the one request
        that does not fit (else the newest), so the others go on at the next step; on
        any other error, every request of the batch."""
        for slot, base, pending in batch:
            self.backend.forget(slot.seq, base)
            del slot.cache[base:]
            slot.pending = pending
        slots = [slot for slot, _, _ in batch]
        if not (isinstance(exc, DecodeError) and exc.no_space):
            log.error("decode failed (%s); failing %d request(s)", exc, len(slots))
            for slot in slots:
                self._fail(slot, internal_error(exc), forget=True)
            return
        victim = kv_victim(slots, self.backend.n_ctx // len(self.slots))
        log.warning(
            "KV cache full; failing %s, %d other request(s) go on",
            victim.job.request.request_id if victim.job else "?",
            len(slots) - 1,
        )
        self._fail(victim, kv_cache_full(), forget=True)

    def _answer_all(self, error: FreeholdError) -> None:
        """At stop: answer every running and waiting job with ``error``."""
        for slot in self.slots:
            if slot.job is not None:
                self._finish(slot, error=error)
        for job in self.jobs.take_all():
            job.emit(error)
            self.jobs.release()

    def _die(self, exc: BaseException) -> None:
        """The thread is dying: refuse new jobs, answer every held one (no backend calls:
        its state is unknown)."""
        log.critical("the scheduler thread died; the server cannot generate", exc_info=exc)
        reason = f"scheduler thread died: {type(exc).__name__}: {exc}"
        jobs = [s.job for s in self.slots if s.job is not None]
        for slot in self.slots:
            slot.job = None
        jobs += self.jobs.fail(reason)
        error = engine_failed(reason)
        for job in jobs:
            try:
                job.emit(error)
            except Exception:  # the event loop may be gone already
                log.debug("could not answer %s", job.request.request_id)
