"""The scheduler thread's mail to the event loop, one wake-up per scheduler step.

Each chunk used to cross threads in a ``call_soon_threadsafe`` of its own: at 8 slots
that is 8 self-pipe writes from the scheduler thread and up to 8 wake-ups of the event
loop per step, CPU taken from llama.cpp's threads on a small machine. Here the chunks a
step produces wait in the mailbox until the step ends (``flush``) and then go to each
event loop in one call.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

Letter = tuple[asyncio.Queue[Any], Any]


def _deliver(letters: list[Letter]) -> None:
    for queue, item in letters:
        queue.put_nowait(item)


class Mailbox:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._letters: dict[asyncio.AbstractEventLoop, list[Letter]] = {}

    def post(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any], item: Any) -> None:
        """``item`` for ``queue`` (of ``loop``), delivered at the next ``flush``."""
        with self._lock:
            self._letters.setdefault(loop, []).append((queue, item))

    def flush(self) -> None:
        """Deliver everything posted so far: one ``call_soon_threadsafe`` per loop."""
        with self._lock:
            boxes, self._letters = self._letters, {}
        for loop, letters in boxes.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(_deliver, letters)
