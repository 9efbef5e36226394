"""The jobs between the event loop and the scheduler thread.

Admission control (at most slots + ``max_queue`` jobs in flight, else a 429), the inbox the
event loop puts jobs in, and the FIFO of jobs the scheduler thread has taken but not yet
started. ``waiting`` is the thread's alone; everything else is guarded by one lock.
"""

from __future__ import annotations

import queue
import threading
from collections import deque

from freehold.engine.failures import engine_failed, shutting_down
from freehold.engine.jobs import Job
from freehold.errors import bad_request, queue_full


class JobQueue:
    def __init__(self, n_slots: int, max_queue: int) -> None:
        self.n_slots = n_slots
        self.max_queue = max_queue
        # Why the scheduler thread died (then every job is refused with it), else None.
        self.failure: str | None = None
        self.waiting: deque[Job] = deque()
        self._inbox: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._inflight = 0
        self._closed = False

    # -- event-loop side ------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        with self._lock:
            if self.failure is not None:
                raise engine_failed(self.failure, status=503)
            if self._closed:
                raise shutting_down()
            if job.request.n > self.n_slots:
                raise bad_request(
                    f"n={job.request.n} choices need as many slots; this server has "
                    f"{self.n_slots} (--parallel)",
                    "n",
                )
            if self._inflight >= self.n_slots + self.max_queue:
                raise queue_full(
                    f"server busy: {self.n_slots} slots in use and {self.max_queue} requests "
                    "waiting; retry shortly"
                )
            self._inflight += 1
            self._inbox.put(job)

    def close(self) -> None:
        """No new jobs; the thread's next ``take`` returns False."""
        with self._lock:
            self._closed = True
            self._inbox.put(None)

    def inflight(self) -> int:
        with self._lock:
            return self._inflight

    # -- scheduler thread -----------------------------------------------------------------
    def take(self, block: bool) -> bool:
        """Move the inbox's jobs to ``waiting`` (waiting for one when ``block``). False
        once ``close`` was asked."""
        try:
            item = self._inbox.get(block=block)
            while True:
                if item is None:
                    return False
                self.waiting.append(item)
                item = self._inbox.get_nowait()
        except queue.Empty:
            return True

    def release(self) -> None:
        """A job is answered: its room is free."""
        with self._lock:
            self._inflight -= 1

    def take_all(self) -> list[Job]:
        """At stop: every job not started yet (each then answered and released)."""
        with self._lock:
            jobs = [*self.waiting, *self._drain_inbox()]
            self.waiting.clear()
        return jobs

    def fail(self, reason: str) -> list[Job]:
        """The thread is dying: refuse every later job with ``reason``; the jobs not
        started yet, for the caller to answer."""
        with self._lock:
            self.failure = reason
            jobs = [*self.waiting, *self._drain_inbox()]
            self.waiting.clear()
            self._inflight = 0
        return jobs

    def _drain_inbox(self) -> list[Job]:
        jobs: list[Job] = []
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return jobs
            if item is not None:
                jobs.append(item)
