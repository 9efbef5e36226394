"""PoolingWorker on its own thread: failures become errors of the jobs they hit, the worker
keeps serving, cancelled jobs are dropped, shutdown answers every job still waiting."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

import pytest

from freehold.engine.fake_pooling import FakePoolingContext
from freehold.engine.pooling import PoolingWorker
from freehold.errors import FreeholdError

pytestmark = pytest.mark.anyio


@dataclass
class GatedContext(FakePoolingContext):
    """Blocks in ``run`` until ``release`` is set; ``entered`` tells a run has begun."""

    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    fail_next: bool = False

    def run(self, inputs: list[list[int]]) -> list[list[float]]:
        self.entered.set()
        assert self.release.wait(10), "the test never released the context"
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("boom")
        return super().run(inputs)


async def wait_for(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, 10), "the worker never got there"


async def test_a_context_that_cannot_open_fails_the_job_and_is_retried():
    attempts: list[int] = []

    def open_context() -> FakePoolingContext:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("out of memory")
        return FakePoolingContext()

    worker = PoolingWorker(open_context, "t")
    try:
        with pytest.raises(FreeholdError) as failed:
            await worker.run([[5]])
        assert failed.value.status == 500 and "out of memory" in failed.value.message
        assert await worker.run([[5]]) == [[0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]]
    finally:
        await asyncio.to_thread(worker.stop)


async def test_a_failed_batch_fails_its_jobs_and_the_worker_goes_on():
    context = GatedContext(fail_next=True)
    context.release.set()
    worker = PoolingWorker(lambda: context, "t")
    try:
        with pytest.raises(FreeholdError, match="pooling failed: boom"):
            await worker.run([[5], [6]])
        assert len(await worker.run([[5], [6]])) == 2
    finally:
        await asyncio.to_thread(worker.stop)


async def test_a_cancelled_job_is_never_decoded():
    context = GatedContext()
    worker = PoolingWorker(lambda: context, "t")
    try:
        first = asyncio.create_task(worker.run([[5]]))
        await wait_for(context.entered)
        gone = asyncio.create_task(worker.run([[6], [7]]))
        await asyncio.sleep(0)  # let it reach the queue
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        context.release.set()
        assert await first == [[0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]]
        assert await worker.run([[8]])  # a later job: the cancelled one was skipped
        assert context.batches == [1, 1]
    finally:
        await asyncio.to_thread(worker.stop)


async def test_stop_answers_waiting_jobs_and_closes_the_context():
    context = GatedContext()
    worker = PoolingWorker(lambda: context, "t")
    running = asyncio.create_task(worker.run([[5]]))
    await wait_for(context.entered)
    waiting = asyncio.create_task(worker.run([[6]]))
    await asyncio.sleep(0)
    worker.stop(timeout=None)  # the stop mark is queued behind the waiting job
    context.release.set()
    await asyncio.to_thread(worker.stop)
    assert len(await running) == 1
    with pytest.raises(FreeholdError) as shut:
        await waiting
    assert shut.value.status == 503
    assert context.closed
