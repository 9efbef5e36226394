"""Streaming side of reasoning: split thinking from the answer.

``ThinkSplitter`` is a small state machine fed generated text in pieces of any size. It
holds back a possible partial marker (``<thi``) until it knows, never lets a marker
into its output, and drops the whitespace around markers (after a marker, and before
one), so its output is the same whether the text comes whole or a character at a time.
Everything here is pure and O(len(piece)) per call (plus the markers' small length).
"""

from __future__ import annotations

from typing import Literal

from freehold.chat.reasoning_formats import ReasoningFormat

Kind = Literal["reasoning", "content"]
Event = tuple[Kind, str]


def _partial(buf: str, markers: tuple[str, ...]) -> int:
    """Length of the longest tail of ``buf`` that is a proper prefix of a marker."""
    best = 0
    for marker in markers:
        i = buf.find(marker[0], max(0, len(buf) - len(marker) + 1))
        while i != -1:
            if marker.startswith(buf[i:]):
                best = max(best, len(buf) - i)
                break
            i = buf.find(marker[0], i + 1)
    return best


def _first(buf: str, markers: tuple[str, ...]) -> tuple[int, str]:
    """The earliest whole marker in ``buf``: (index, marker), or (-1, "")."""
    found, which = -1, ""
    for marker in markers:
        i = buf.find(marker)
        if i != -1 and (found == -1 or i < found):
            found, which = i, marker
    return found, which


def _push(out: list[Event], kind: Kind, text: str) -> None:
    if out and out[-1][0] == kind:
        out[-1] = (kind, out[-1][1] + text)
    else:
        out.append((kind, text))


class ThinkSplitter:
    """Separates thinking (``reasoning``) from the answer (``content``) in a text stream.

    ``starts_inside``: the prompt opened the block, so the text begins in thinking. Text
    before a start marker is content; a second block later is thinking again. An end
    marker or a header of ``fmt.drop`` met in content is removed.
    """

    def __init__(self, fmt: ReasoningFormat, starts_inside: bool = False) -> None:
        self.fmt = fmt
        self.inside = starts_inside
        self._outside_markers = (fmt.start, fmt.end, *fmt.drop)
        self._pending = ""  # a tail that may be the beginning of a marker
        self._ws = ""  # whitespace held back: dropped if a marker follows it
        self._lstrip = True  # drop whitespace up to the next visible character

    def feed(self, text: str) -> list[Event]:
        out: list[Event] = []
        buf = self._pending + text
        while buf:
            markers = (self.fmt.end,) if self.inside else self._outside_markers
            at, marker = _first(buf, markers)
            if at == -1:
                keep = _partial(buf, markers)
                self._emit(out, buf[: len(buf) - keep])
                self._pending = buf[len(buf) - keep :]
                return out
            self._emit(out, buf[:at])
            self._on_marker(marker)
            buf = buf[at + len(marker) :]
        self._pending = ""
        return out

    def finish(self) -> list[Event]:
        """The text still held back, at the end of the stream."""
        out: list[Event] = []
        self._emit(out, self._pending)
        self._pending = ""
        if self._ws:
            _push(out, self._kind, self._ws)
            self._ws = ""
        return out

    @property
    def _kind(self) -> Kind:
        return "reasoning" if self.inside else "content"

    def _on_marker(self, marker: str) -> None:
        if self.inside or marker == self.fmt.start:
            self.inside = not self.inside
            self._ws, self._lstrip = "", True
        # an end marker or a header met in content just vanishes

    def _emit(self, out: list[Event], text: str) -> None:
        if self._lstrip:
            text = text.lstrip()
            if not text:
                return
            self._lstrip = False
        visible = text.rstrip()
        if not visible:
            self._ws += text
            return
        _push(out, self._kind, self._ws + visible)
        self._ws = text[len(visible) :]
