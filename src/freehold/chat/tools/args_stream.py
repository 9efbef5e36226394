"""Tool-call arguments as they are generated: the JSON text in, its final form out.

A call's final ``arguments`` is ``json.dumps(json.loads(text), ensure_ascii=False)``
(``parsers.arguments_text``). ``CanonJson`` writes that same text piece by piece while the
model is still writing the value: whitespace dropped, ``, `` and ``: `` separators,
strings re-escaped as they arrive, numbers and literals once they end. It stops at the
end of the value, so the envelope's closing brace is never part of it. ``Heads``
finds, in a call body, where a call's name is known and its arguments object begins.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

_NUMBER = set("0123456789+-.eE")
_SEPARATORS = {",": ", ", ":": ": ", "{": "{", "}": "}", "[": "[", "]": "]"}


def _string_text(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


class CanonJson:
    """One JSON value, fed as text; ``feed`` returns the canonical text it can write so
    far and stops consuming at the value's end (``done``). ``failed``: a token or a
    bracket ``json.loads`` would refuse (nothing more is written). The grammar between
    tokens (a missing colon) is left to the body's parse, which drops such a call."""

    def __init__(self) -> None:
        self._open: list[str] = []  # the brackets opened and not yet closed
        self.done = False
        self.failed = False
        self._state = "value"  # value | string | escape | number | literal
        self._token = ""  # a number, literal or escape being read

    def feed(self, text: str) -> tuple[str, int]:
        """(canonical text, characters of ``text`` consumed)."""
        out: list[str] = []
        for i, char in enumerate(text):
            if self.done or self.failed:
                return "".join(out), i
            self._char(char, out)
        return "".join(out), len(text)

    def _char(self, char: str, out: list[str]) -> None:
        if self._state == "string":
            if char == "\\":
                self._state, self._token = "escape", char
            elif char < " ":  # a raw control character: json.loads refuses it
                self.failed = True
            else:
                out.append('"' if char == '"' else _string_text(char))
                self._state = "value" if char == '"' else "string"
        elif self._state == "escape":
            self._escape(char, out)
        elif self._state in ("number", "literal"):
            if (char in _NUMBER) if self._state == "number" else char.isalpha():
                self._token += char
                return
            self._end_token(out)
            if not self.failed:
                self._char(char, out)
        else:
            self._value(char, out)

    def _value(self, char: str, out: list[str]) -> None:
        if char in " \t\r\n":
            return
        if char == '"':
            self._state = "string"
            out.append(char)
        elif char in _SEPARATORS:
            self._structure(char, out)
        elif char in _NUMBER or char.isalpha():
            self._state = "number" if char in _NUMBER else "literal"
            self._token = char
        else:
            self.failed = True

    def _structure(self, char: str, out: list[str]) -> None:
        if char in "{[":
            self._open.append(char)
        elif char in "}]":
            if not self._open or self._open.pop() + char not in ("{}", "[]"):
                self.failed = True
                return
            self.done = not self._open
        elif not self._open:  # a separator outside the value
            self.failed = True
            return
        out.append(_SEPARATORS[char])

    def _end_token(self, out: list[str]) -> None:
        token, kind = self._token, self._state
        self._token, self._state = "", "value"
        if kind == "literal" and token not in ("true", "false", "null"):
            self.failed = True
            return
        try:
            out.append(json.dumps(json.loads(token)))
        except ValueError:
            self.failed = True

    def _escape(self, char: str, out: list[str]) -> None:
        self._token += char
        if not self._escape_complete(self._token):
            return
        try:
            value = json.loads(f'"{self._token}"')
        except ValueError:
            self.failed = True
            return
        out.append(_string_text(value))
        self._state, self._token = "string", ""

    def _escape_complete(self, token: str) -> bool:
        """``\\x`` is whole; ``\\uXXXX`` too, unless a high surrogate (then its pair)."""
        if token[1] != "u":
            return True
        if len(token) < 6:
            return False
        try:
            high = 0xD800 <= int(token[2:6], 16) <= 0xDBFF
        except ValueError:
            return True  # json.loads refuses it
        if not high or len(token) >= 12:
            return True
        if not "\\u".startswith(token[6:8]):
            self.failed = True
        return False


@dataclass
class Streamed:
    """A call announced while generated: its name and the arguments text written."""

    name: str
    text: str = ""
    canon: CanonJson = field(default_factory=CanonJson)


NameOf = Callable[[str], str | None]


def json_name(text: str) -> str | None:
    try:
        name = json.loads(text)
    except ValueError:
        return None
    return name if isinstance(name, str) and name else None


def plain_name(text: str) -> str | None:
    return text.split("<|constrain|>")[0].strip() or None


@dataclass(frozen=True)
class Heads:
    """Where, in a call body, a call's name is known and its arguments object begins:
    patterns whose group 1 is the name and whose match ends right before the ``{``."""

    patterns: tuple[tuple[re.Pattern[str], NameOf], ...]

    def find(self, body: str, start: int, end: int) -> tuple[str, int] | None:
        """(name, where the arguments begin) of the first head in ``body[start:end]``."""
        found = [(m, name_of) for p, name_of in self.patterns if (m := p.search(body, start, end))]
        if not found:
            return None
        match, name_of = min(found, key=lambda f: f[0].start())
        name = name_of(match.group(1))
        return (name, match.end()) if name else None


def heads(*patterns: tuple[str, NameOf]) -> Heads:
    return Heads(tuple((re.compile(p, re.S), name_of) for p, name_of in patterns))


# ``{"name": "NAME", "arguments": {`` (or ``parameters``): a JSON call object whose name
# comes first, up to its arguments object.
ENVELOPE = (
    r'\{\s*"name"\s*:\s*("(?:[^"\\]|\\.)*")\s*,\s*"(?:arguments|parameters)"\s*:\s*(?=\{)',
    json_name,
)
