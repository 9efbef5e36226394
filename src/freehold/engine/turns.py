"""Decode turns: how the loaded models share the CPU.

Each loaded model has its own scheduler thread, and each llama.cpp context its own pool
of ``--threads`` workers, which spin while they wait for each other. Two models decoding
at the same moment would put two such pools on the same cores and slow both far more
than twice. So the models of one server take turns: one ``llama_decode`` at a time, in
the order they asked, each with every thread. Their requests still run side by side;
their steps interleave.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class DecodeTurns:
    """A fair (first come, first served) lock around each decode step."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._changed:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._changed.wait()
        try:
            yield
        finally:
            with self._changed:
                self._serving += 1
                self._changed.notify_all()
