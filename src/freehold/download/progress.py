"""Progress of a pull: a rich bar on a terminal, plain lines otherwise, JSON lines for tools.

Every reporter takes the same calls: ``note`` (a step, in words and fields),
``start``/``advance``/``finish`` for each file's bytes, and ``close``.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from freehold.download.quants import human_size


@dataclass
class FileProgress:
    total: int
    done: int
    offset: int  # bytes already on disk when this run started
    t0: float = field(default_factory=time.monotonic)
    mark: float = 0.0  # next threshold to report at

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.t0, 1e-6)
        speed = (self.done - self.offset) / elapsed
        eta = (self.total - self.done) / speed if speed > 0 else 0
        pct = 100 * self.done / self.total if self.total else 100
        return (
            f"{pct:3.0f}% {human_size(self.done)}/{human_size(self.total)}, "
            f"{human_size(speed)}/s, ETA {eta:.0f}s"
        )


class Reporter:
    """Plain lines: a line per step and per tenth of each file."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._files: dict[str, FileProgress] = {}

    def note(self, event: str, message: str, **fields: Any) -> None:
        print(message, file=self.stream, flush=True)

    def start(self, name: str, total: int, offset: int = 0) -> None:
        next_tenth = (offset * 10 // total + 1) / 10 if total else 0.1
        self._files[name] = FileProgress(total, offset, offset, mark=next_tenth)
        resumed = f", resuming at {human_size(offset)}" if offset else ""
        self.note("download_start", f"downloading {name} ({human_size(total)}{resumed})")

    def advance(self, name: str, nbytes: int) -> None:
        state = self._files[name]
        state.done += nbytes
        if state.total and state.mark * state.total <= state.done < state.total:
            state.mark = (state.done * 10 // state.total + 1) / 10
            print(f"{name}: {state.line()}", file=self.stream, flush=True)

    def finish(self, name: str) -> None:
        state = self._files.pop(name, None)
        if state is not None:
            print(f"{name}: {state.line()}, done", file=self.stream, flush=True)

    def close(self) -> None:
        return None


class JsonReporter(Reporter):
    """One JSON object per line on stdout: ``{"event": ..., ...}``; progress at most per 1 %."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream or sys.stdout)

    def emit(self, **fields: Any) -> None:
        print(json.dumps(fields), file=self.stream, flush=True)

    def note(self, event: str, message: str, **fields: Any) -> None:
        self.emit(event=event, message=message, **fields)

    def start(self, name: str, total: int, offset: int = 0) -> None:
        self._files[name] = FileProgress(total, offset, offset, mark=offset)
        self.emit(event="download_start", file=name, total=total, offset=offset)

    def advance(self, name: str, nbytes: int) -> None:
        state = self._files[name]
        state.done += nbytes
        if state.total and (state.done - state.mark) * 100 >= state.total:
            state.mark = state.done
            self.emit(event="progress", file=name, completed=state.done, total=state.total)

    def finish(self, name: str) -> None:
        state = self._files.pop(name, FileProgress(0, 0, 0))
        self.emit(event="download_done", file=name, completed=state.done, total=state.total)


class RichReporter(Reporter):
    """A rich progress bar per file with size, speed and ETA (on a terminal)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        super().__init__(stream)
        self.console = Console(file=self.stream)
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.tasks: dict[str, Any] = {}
        self.bar.start()

    def note(self, event: str, message: str, **fields: Any) -> None:
        self.console.print(message, highlight=False)

    def start(self, name: str, total: int, offset: int = 0) -> None:
        self.tasks[name] = self.bar.add_task(name, total=total, completed=offset)

    def advance(self, name: str, nbytes: int) -> None:
        self.bar.advance(self.tasks[name], nbytes)

    def finish(self, name: str) -> None:
        task = self.tasks.pop(name, None)
        if task is not None:
            self.bar.refresh()

    def close(self) -> None:
        self.bar.stop()


def make_reporter(json_lines: bool = False) -> Reporter:
    if json_lines:
        return JsonReporter()
    return RichReporter() if sys.stderr.isatty() else Reporter()
