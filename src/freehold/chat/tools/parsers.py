"""Streaming tool-call parsers: answer text in, content text and calls out.

One machine serves every family: text outside a call streams through as content (a
possible partial opening marker held back); from an opening marker to the family's
closing marker (or the end of the output) the body is collected, then the family's
``parse_body`` turns it into calls. A body that does not parse comes back as content,
markers included: malformed output is never an error.

With ``heads`` (a family whose arguments are one JSON object in the body), a call is
announced (``CallStart``) as soon as its name is known and its arguments are written as
they arrive (``ArgsText``, ``args_stream.CanonJson``); the body's parse then confirms
each announced call (``CallEnd(arguments)``, the same text the fragments add up to) or
drops it (``CallEnd(None)``), and the body is read as without streaming.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from freehold.chat.reasoning_stream import _first, _partial
from freehold.chat.tools.args_stream import Heads, Streamed


@dataclass(frozen=True)
class Call:
    name: str
    arguments: str  # a JSON object, as text


@dataclass(frozen=True)
class CallStart:
    """A call's name is known; its arguments follow as ``ArgsText``."""

    name: str


@dataclass(frozen=True)
class ArgsText:
    """More of the last started call's arguments (final JSON text)."""

    text: str


@dataclass(frozen=True)
class CallEnd:
    """The first started call not yet ended: its whole arguments, or None (dropped:
    what the body turned out to be follows, as without streaming)."""

    arguments: str | None


Piece = str | Call | CallStart | ArgsText | CallEnd
BodyParser = Callable[[str], list[Piece] | None]


def arguments_text(value: Any) -> str | None:
    """Arguments as a JSON object text; None when they are not an object."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else None


def call_from(obj: Any, args_keys: tuple[str, ...] = ("arguments", "parameters")) -> Call | None:
    """``{"name": ..., "arguments": {...}}`` (or ``parameters``) as a Call."""
    if isinstance(obj, dict) and isinstance(obj.get("function"), dict):
        return call_from(obj["function"], args_keys)
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None
    args: Any = next((obj[k] for k in args_keys if k in obj), {})
    text = arguments_text(args)
    return Call(obj["name"], text) if text is not None else None


def json_calls(body: str) -> list[Piece] | None:
    """One JSON call object, a list of them, or several separated by ``;``/newlines."""
    body = body.strip()
    try:
        value = json.loads(body)
    except ValueError:
        value = _json_sequence(body)
        if value is None:
            return None
    items = value if isinstance(value, list) else [value]
    calls = [call_from(item) for item in items]
    return None if not calls or any(c is None for c in calls) else calls  # type: ignore[return-value]


def _json_sequence(body: str) -> list[Any] | None:
    decoder, i = json.JSONDecoder(), 0
    values: list[Any] = []
    while i < len(body):
        while i < len(body) and body[i] in " \t\r\n;":
            i += 1
        if i == len(body):
            break
        try:
            value, i = decoder.raw_decode(body, i)
        except ValueError:
            return None
        values.append(value)
    return values or None


class MarkedCalls:
    """The streaming machine. ``opens``: opening markers, mapped to whether the marker is
    part of the body (``{"name"`` for Llama 3); ``close``: the closing marker (None: the
    call runs to the end of the output)."""

    def __init__(
        self,
        opens: dict[str, bool],
        close: str | None,
        parse_body: BodyParser,
        heads: Heads | None = None,
    ) -> None:
        self._opens = opens
        self._markers = tuple(opens)
        self._close = close
        self._parse = parse_body
        self._held = ""
        self._ws = ""  # trailing whitespace of content: dropped if a call follows
        self._after_call = False  # drop the whitespace between calls
        self._marker: str | None = None  # the opening marker of the call being read
        self.body = ""
        self._heads = heads  # where a call's name is known and its arguments begin
        self._streams: list[Streamed] = []  # calls of this body announced so far
        self._scan_at = 0  # in body: where streaming goes on

    @property
    def in_call(self) -> bool:
        return self._marker is not None

    def feed(self, text: str) -> list[Piece]:
        out: list[Piece] = []
        buf = self._held + text
        self._held = ""
        while buf:
            if self._marker is None:
                at, marker = _first(buf, self._markers)
                if at == -1:
                    keep = _partial(buf, self._markers)
                    self._text(out, buf[: len(buf) - keep])
                    self._held = buf[len(buf) - keep :]
                    return out
                self._text(out, buf[:at])
                self._ws = ""
                self._marker = marker
                self.body = marker if self._opens[marker] else ""
                buf = buf[at + len(marker) :]
            elif self._close is None:
                self.body += buf
                self._advance(out, final=False)
                return out
            else:
                buf = self._read_body(out, buf)
        return out

    def finish(self) -> list[Piece]:
        out: list[Piece] = []
        if self._marker is not None:
            self._end_call(out, closed=self._close is None)
        self._text(out, self._held)
        self._held = ""
        if not self._after_call:
            self._emit(out, self._ws)
        self._ws = ""
        return out

    def _read_body(self, out: list[Piece], buf: str) -> str:
        assert self._close is not None
        at = (self.body + buf).find(self._close, max(0, len(self.body) - len(self._close)))
        if at == -1:
            self.body += buf
            self._advance(out, final=False)
            return ""
        whole = self.body + buf
        self.body = whole[:at]
        self._end_call(out, closed=True)
        return whole[at + len(self._close) :]

    def _advance(self, out: list[Piece], final: bool) -> None:
        """Announce the calls whose name is known; write their arguments so far (never
        a possible start of the closing marker)."""
        if self._heads is None:
            return
        end = len(self.body)
        if not final and self._close is not None:
            end -= _partial(self.body, (self._close,))
        while self._scan_at < end:
            last = self._streams[-1] if self._streams else None
            if last is not None and last.canon.failed:
                return
            if last is not None and not last.canon.done:
                text, used = last.canon.feed(self.body[self._scan_at : end])
                self._scan_at += used
                last.text += text
                if text:
                    out.append(ArgsText(text))
                continue
            head = self._heads.find(self.body, self._scan_at, end)
            if head is None:
                return
            name, self._scan_at = head
            self._streams.append(Streamed(name))
            out.append(CallStart(name))

    def _settle(self, out: list[Piece], pieces: list[Piece] | None) -> bool:
        """End the announced calls when the body's calls are exactly them."""
        calls = [(p.name, p.arguments) for p in pieces or [] if isinstance(p, Call)]
        if pieces is None or calls != [(s.name, s.text) for s in self._streams]:
            out.extend(CallEnd(None) for _ in self._streams)
            return False
        for piece in pieces:
            if isinstance(piece, Call):
                out.append(CallEnd(piece.arguments))
                self._after_call, self._ws = True, ""
            elif isinstance(piece, str):
                self._text(out, piece)
        return True

    def _end_call(self, out: list[Piece], closed: bool) -> None:
        if closed:
            self._advance(out, final=True)
        marker, body = self._marker or "", self.body
        self._marker, self.body, self._scan_at = None, "", 0
        pieces = self._parse(body) if closed else None
        streamed = bool(self._streams)
        settled = streamed and self._settle(out, pieces)
        self._streams = []
        if settled:
            return
        if pieces is None:  # malformed or cut short: the raw text, as content
            raw = body if self._opens.get(marker) else marker + body
            self._text(out, raw + (self._close if closed and self._close else ""))
            return
        for piece in pieces:
            if isinstance(piece, str):
                self._text(out, piece)
            else:
                out.append(piece)
                self._after_call, self._ws = True, ""

    def _text(self, out: list[Piece], text: str) -> None:
        """Content text, its trailing whitespace held back (and dropped before a call)."""
        if self._after_call:
            text = text.lstrip()
        visible = text.rstrip()
        if not visible:
            self._ws += text
            return
        self._after_call = False
        self._emit(out, self._ws + visible)
        self._ws = text[len(visible) :]

    @staticmethod
    def _emit(out: list[Piece], text: str) -> None:
        if not text:
            return
        if out and isinstance(out[-1], str):
            out[-1] += text
        else:
            out.append(text)
