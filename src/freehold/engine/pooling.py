"""Pooling workloads: embeddings and rerank scores, beside generation.

Where the pooling context lives, and why. A pooled vector needs a llama.cpp context created
for it (``embeddings`` on, a pooling type; rerankers: ``LLAMA_POOLING_TYPE_RANK``), so an
embedding request cannot ride in the generation context's batches. It gets a **second
context on the same ``llama_model``** (the weights are shared, read-only), created on the
first pooling request (a server that never embeds pays nothing), and **owned by its own
worker thread**, not by the scheduler thread:

- decoding never waits for a pooling batch: were the scheduler to run it between steps, one
  batch of 2,048 document tokens (about 12 s here at 173 tok/s) would freeze every stream
  for that long; on its own thread it only shares the cores, and each stream keeps
  stepping (slower while both run, never stopped);
- llama.cpp allows several contexts of one model on different threads; each context is
  still touched by one thread only, the rule the scheduler keeps for its own;
- the event loop never blocks: it hands a job to the worker's queue and awaits a future,
  which the worker resolves with ``loop.call_soon_threadsafe``.

The worker packs the inputs of all waiting jobs into one ``llama_decode`` (up to the
context's batch of tokens and of sequences), so a rerank's documents, or a list of
embedding inputs, are pooled together, one sequence each.
"""

from __future__ import annotations

import asyncio
import logging
import math
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from freehold.errors import FreeholdError

log = logging.getLogger(__name__)


POOLING_NAMES = {1: "mean", 2: "cls", 3: "last", 4: "rank"}


def pooling_name(gguf_value: str | None) -> str | None:
    """The pooling a GGUF's ``{arch}.pooling_type`` declares; None when it declares none
    (or ``none``: per-token output, as generative models have)."""
    value = gguf_value or ""
    return POOLING_NAMES.get(int(value)) if value.isdigit() else None


def refuse_generation(model_id: str, pooling: str) -> FreeholdError:
    """The 400 for a generation request to an embedding model or a reranker."""
    use = "POST /v1/rerank" if pooling == "rank" else "POST /v1/embeddings"
    return FreeholdError(
        f"the model '{model_id}' is an embedding model (its GGUF declares '{pooling}' "
        f"pooling): it does not generate text; use {use}",
        param="model",
        code="model_not_generative",
    )


@dataclass(frozen=True)
class PoolingFacts:
    """What a model offers for pooling. ``declared``: the GGUF names the pooling itself
    (False: it names none, as generative models do, and freehold pools by mean)."""

    pooling: str = "mean"
    declared: bool = False
    n_embd: int = 0
    max_tokens: int = 0

    @property
    def reranker(self) -> bool:
        return self.pooling == "rank"

    def capabilities(self) -> dict[str, object]:
        """What ``/v1/models`` says of a model's embeddings and rerank."""
        facts: dict[str, object] = {
            "embeddings": not self.reranker,
            "rerank": self.reranker,
            "pooling": self.pooling,
            "pooling_source": "gguf" if self.declared else "default (the GGUF declares none)",
        }
        if not self.reranker:
            facts["embedding_dimensions"] = self.n_embd
        return facts


class PoolingContext(Protocol):
    """A llama.cpp context made for pooling (or a fake); used by the worker thread only."""

    n_batch: int
    n_seq: int

    def run(self, inputs: list[list[int]]) -> list[list[float]]:
        """One pooled output per input, all decoded in one batch."""
        ...

    def close(self) -> None: ...


@dataclass(eq=False)
class PoolingJob:
    inputs: list[list[int]]
    deliver: Callable[[list[list[float]] | BaseException], object]
    outputs: dict[int, list[float]] = field(default_factory=dict)
    cancelled: bool = False


@dataclass(frozen=True)
class _Item:
    job: PoolingJob
    index: int

    @property
    def tokens(self) -> list[int]:
        return self.job.inputs[self.index]


def l2_normalize(vector: list[float]) -> list[float]:
    """Unit length, as OpenAI's embeddings are (a zero vector stays zero)."""
    norm = math.sqrt(math.fsum(x * x for x in vector))
    return [x / norm for x in vector] if norm > 0 else list(vector)


class PoolingWorker:
    """A thread owning one pooling context, opened on its first job."""

    def __init__(self, open_context: Callable[[], PoolingContext], name: str) -> None:
        self._open = open_context
        self._context: PoolingContext | None = None
        self._inbox: queue.Queue[PoolingJob | None] = queue.Queue()
        self._pending: list[_Item] = []
        self._thread = threading.Thread(target=self._run, name=f"freehold-pool-{name}", daemon=True)
        self._started = False
        self._lock = threading.Lock()

    # -- event-loop side ------------------------------------------------------------------
    async def run(self, inputs: list[list[int]]) -> list[list[float]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[list[float]]] = loop.create_future()

        def settle(result: list[list[float]] | BaseException) -> None:
            if future.done():
                return
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

        job = PoolingJob(inputs, lambda r: loop.call_soon_threadsafe(settle, r))
        self._ensure_started()
        self._inbox.put(job)
        try:
            return await future
        finally:
            job.cancelled = True  # a client gone: its inputs not yet decoded are dropped

    def _ensure_started(self) -> None:
        with self._lock:
            if not self._started:
                self._started = True
                self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> bool:
        """End the thread after the jobs queued so far are taken (those not yet decoded
        get a 503); wait up to ``timeout`` s (None: not at all) for it to end and close
        its context. True when it has ended (or never started)."""
        with self._lock:
            if not self._started:
                return True
        self._inbox.put(None)
        if timeout is not None:
            self._thread.join(timeout=timeout)
        return not self._thread.is_alive()

    # -- worker thread --------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while self._take(block=not self._pending):
                self._pending = [i for i in self._pending if not i.job.cancelled]
                if self._pending:
                    self._run_batch()
        finally:
            self._shut_down()

    def _shut_down(self) -> None:
        while True:  # jobs that arrived after the stop mark still get an answer
            try:
                job = self._inbox.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                self._pending += [_Item(job, i) for i in range(len(job.inputs))]
        self._fail_pending(_server_error("server shutting down", 503))
        if self._context is not None:
            self._context.close()
            self._context = None

    def _take(self, block: bool) -> bool:
        try:
            job = self._inbox.get(block=block)
            while True:
                if job is None:
                    return False
                self._pending += [_Item(job, i) for i in range(len(job.inputs))]
                if not job.inputs:
                    job.deliver([])
                job = self._inbox.get_nowait()
        except queue.Empty:
            return True

    def _run_batch(self) -> None:
        try:
            context = self._context = self._context or self._open()
        except Exception as exc:
            log.error("could not create the pooling context: %s", exc)
            self._fail_pending(_server_error(f"could not create the pooling context: {exc}"))
            return
        batch = self._next_batch(context)
        del self._pending[: len(batch)]
        try:
            outputs = context.run([item.tokens for item in batch])
        except Exception as exc:
            log.error("pooling batch failed: %s", exc)
            for item in batch:
                item.job.deliver(_server_error(f"pooling failed: {exc}"))
                item.job.cancelled = True  # its other inputs are dropped
            return
        self._collect(batch, outputs)

    def _next_batch(self, context: PoolingContext) -> list[_Item]:
        """The longest run of pending inputs that fits one batch (at least one input)."""
        batch: list[_Item] = []
        tokens = 0
        for item in self._pending:
            full = len(batch) >= context.n_seq or tokens + len(item.tokens) > context.n_batch
            if batch and full:
                break
            batch.append(item)
            tokens += len(item.tokens)
        return batch

    def _collect(self, batch: list[_Item], outputs: list[list[float]]) -> None:
        for item, output in zip(batch, outputs, strict=True):
            job = item.job
            job.outputs[item.index] = output
            if len(job.outputs) == len(job.inputs):
                job.deliver([job.outputs[i] for i in range(len(job.inputs))])

    def _fail_pending(self, error: FreeholdError) -> None:
        for job in {id(i.job): i.job for i in self._pending}.values():
            job.deliver(error)
        self._pending = []


def _server_error(message: str, status: int = 500) -> FreeholdError:
    return FreeholdError(message, status=status, type="server_error")
