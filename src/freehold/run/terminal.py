"""The terminal side of ``freehold run``: the prompt loop, and the piped one-shot mode."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from freehold.run.client import ChatError, Delta
from freehold.run.session import Bye, Session

PROMPT = ">>> "
MORE = "... "
FENCE = '"""'
DIM, RESET = "\x1b[2m", "\x1b[0m"

Reader = Callable[[str], str]


def read_message(read: Reader) -> str:
    """One message: a line, or the lines between a pair of \"\"\" fences."""
    line = read(PROMPT)
    if not line.lstrip().startswith(FENCE):
        return line
    first = line.lstrip()[len(FENCE) :]
    if first.rstrip().endswith(FENCE):
        return first.rstrip()[: -len(FENCE)]
    lines = [first] if first else []
    while True:
        line = read(MORE)
        if line.rstrip().endswith(FENCE):
            lines.append(line.rstrip()[: -len(FENCE)])
            return "\n".join(lines).strip("\n")
        lines.append(line)


class Printer:
    """Writes a streamed reply: thinking dimmed on a terminal (marked otherwise), apart
    from the answer, then the usage line."""

    def __init__(self, out: TextIO, color: bool) -> None:
        self.out, self.color = out, color
        self.thinking = False

    def delta(self, delta: Delta) -> None:
        if delta.reasoning:
            if not self.thinking:
                self.thinking = True
                self.out.write(DIM if self.color else "Thinking...\n")
            self.out.write(delta.reasoning)
        if delta.content:
            self._end_thinking()
            self.out.write(delta.content)
        self.out.flush()

    def _end_thinking(self) -> None:
        if self.thinking:
            self.thinking = False
            self.out.write(RESET + "\n\n" if self.color else "\n...done thinking.\n\n")

    def end(self, note: str = "") -> None:
        self._end_thinking()
        self.out.write("\n" + (f"{note}\n" if note else "") + "\n")
        self.out.flush()


def chat_turn(session: Session, text: str, printer: Printer) -> None:
    """Ask, print the reply as it streams; Ctrl-C stops it and keeps the part shown."""
    try:
        for delta in session.ask(text):
            printer.delta(delta)
    except KeyboardInterrupt:
        printer.end("[stopped]")
        return
    except ChatError:
        printer.end()
        raise
    printer.end()


def interactive(session: Session, read: Reader = input, out: TextIO = sys.stdout) -> int:
    """The prompt loop; returns the exit status (0 on /bye or Ctrl-D)."""
    printer = Printer(out, color=out.isatty())
    while True:
        try:
            text = read_message(read)
        except EOFError:
            out.write("\n")
            return 0
        except KeyboardInterrupt:
            out.write("\nUse Ctrl-D or /bye to leave.\n")
            continue
        if not text.strip():
            continue
        try:
            if text.startswith("/"):
                out.write(session.command(text) + "\n")
            else:
                chat_turn(session, text, printer)
        except Bye:
            return 0
        except ChatError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)


def piped(session: Session, text: str, out: TextIO = sys.stdout) -> int:
    """One question from stdin: only the answer goes to stdout."""
    if not text.strip():
        print("error: no message on standard input", file=sys.stderr)
        return 2
    for delta in session.ask(text.strip()):
        out.write(delta.content)
        out.flush()
    out.write("\n")
    return 0
