"""What else runs while a server is measured: its memory, its CPU, everyone else's CPU.

The cores of these machines are shared, so each phase records, besides the server's
peak RSS, how many cores the server used and how many other processes took
("background"), so that a reader can tell a slow server from a busy machine.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil


def _busy_s() -> float:
    """CPU seconds all cores have spent not idle since boot."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def _cpu_s(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


@dataclass
class _Mark:
    wall: float
    busy: float
    server: float
    own: float


class ProcessSampler:
    """Samples a process tree's RSS every `interval_s`; accounts CPU per phase."""

    def __init__(self, pid: int, interval_s: float = 0.1) -> None:
        self._proc = psutil.Process(pid)
        self._own = psutil.Process()
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.phase = "startup"
        self._mark = self._take_mark()
        self.peaks: dict[str, int] = {}
        self.cores: dict[str, dict[str, float]] = {}

    def _tree(self) -> list[psutil.Process]:
        try:
            return [self._proc, *self._proc.children(recursive=True)]
        except psutil.Error:
            return []

    def _take_mark(self) -> _Mark:
        return _Mark(time.monotonic(), _busy_s(), _cpu_s(self._tree()), _cpu_s([self._own]))

    def _loop(self) -> None:
        while not self._stop.is_set():
            rss = 0
            for proc in self._tree():
                try:
                    rss += proc.memory_info().rss
                except psutil.Error:
                    continue
            phase = self.phase
            self.peaks[phase] = max(self.peaks.get(phase, 0), rss)
            self._stop.wait(self._interval)

    def server_cpu_s(self) -> float:
        """CPU seconds the server's process tree has used so far."""
        return _cpu_s(self._tree())

    def enter(self, phase: str) -> dict[str, float]:
        """Close the current phase's CPU account (returned) and start `phase`."""
        now = self._take_mark()
        wall = max(now.wall - self._mark.wall, 1e-9)
        server = (now.server - self._mark.server) / wall
        own = (now.own - self._mark.own) / wall
        busy = (now.busy - self._mark.busy) / wall
        self.cores[self.phase] = {
            "server": round(server, 2),
            "loadgen": round(own, 2),
            "background": round(max(busy - server - own, 0.0), 2),
        }
        closed = self.cores[self.phase]
        self._mark = now
        self.phase = phase
        return closed

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.enter("stopped")
        self._stop.set()
        self._thread.join(timeout=5)


def wait_for_quiet(
    max_wait_s: float,
    exclude: Callable[[], float] | None = None,
    max_cores: float = 0.3,
    window_s: float = 2.0,
) -> float:
    """Wait (bounded) until other processes use under `max_cores`; return the last load seen.

    This process and `exclude()` (CPU seconds of the server under test) do not count.
    """
    own = psutil.Process()

    def mine() -> float:
        return _cpu_s([own]) + (exclude() if exclude else 0.0)

    deadline = time.monotonic() + max_wait_s
    while True:
        busy0, mine0 = _busy_s(), mine()
        time.sleep(window_s)
        load = (_busy_s() - busy0 - (mine() - mine0)) / window_s
        if load < max_cores or time.monotonic() >= deadline:
            return round(max(load, 0.0), 2)


def wait_for_loadavg(max_load: float, max_wait_s: float, poll_s: float = 15.0) -> float:
    """Wait (bounded) until the 1-minute load average is under ``max_load``; return it."""
    deadline = time.monotonic() + max_wait_s
    while os.getloadavg()[0] >= max_load and time.monotonic() < deadline:
        time.sleep(poll_s)
    return round(os.getloadavg()[0], 2)
