"""Tool-call formats by template family: detection, the parser, the grammar of a call.

Like llama.cpp's ``common/chat.cpp``: the family is detected once from the chat template;
each family is a row of one table (markers, body parser, call grammar), not a module.
``generic`` serves templates that know no tools: the tools are described in a system
message and the whole answer is JSON (``{"tool_calls": [...]}`` or ``{"response": ...}``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from freehold.chat.tools.args_stream import ENVELOPE, Heads, heads, plain_name
from freehold.chat.tools.parsers import (
    Call,
    MarkedCalls,
    Piece,
    arguments_text,
    call_from,
    json_calls,
)

DS_CALLS_BEGIN, DS_CALLS_END = "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"
DS_CALL_BEGIN, DS_CALL_END, DS_SEP = (
    "<｜tool▁call▁begin｜>",
    "<｜tool▁call▁end｜>",
    "<｜tool▁sep｜>",
)
HARMONY_OPEN = "<|channel|>commentary to=functions."
# where a call's arguments object begins, its name known (see args_stream.Heads)
JSON_HEADS = heads(ENVELOPE)
MISTRAL_HEADS = heads(
    ENVELOPE, (r'(?:^|\[TOOL_CALLS\])\s*([^\[\]{}"\s]+)\[ARGS\]\s*(?=\{)', plain_name)
)
DEEPSEEK_HEADS = heads(
    (
        re.escape(DS_CALL_BEGIN)
        + r"(?:function)?(?:"
        + re.escape(DS_SEP)
        + r")?([^\n<]+?)\s*(?:"
        + re.escape(DS_SEP)
        + r")?\s*(?:```json)?\s*(?=\{)",
        plain_name,
    )
)


def _deepseek_body(body: str) -> list[Piece] | None:
    pattern = re.compile(
        re.escape(DS_CALL_BEGIN)
        + r"(?:function)?"
        + "(?:"
        + re.escape(DS_SEP)
        + r")?([^\n<]+?)\s*(?:"
        + re.escape(DS_SEP)
        + r")?\s*(?:```json)?\s*(\{.*?\})\s*(?:```)?\s*"
        + re.escape(DS_CALL_END),
        re.S,
    )
    found = pattern.findall(body)
    calls = [(n.strip(), arguments_text(a)) for n, a in found]
    if not calls or any(a is None for _, a in calls):
        return None
    return [Call(name, args) for name, args in calls if args is not None]


def _named_body(sep: str) -> Callable[[str], list[Piece] | None]:
    """``NAME<sep>{args}``: Functionary 3.1 (``>``), harmony (``<|message|>``)."""

    def parse(body: str) -> list[Piece] | None:
        name, found, args = body.partition(sep)
        name = name.split("<|constrain|>")[0].strip()
        text = arguments_text(args.strip()) if found else None
        return [Call(name, text)] if name and text is not None else None

    return parse


def _functionary_v32_body(body: str) -> list[Piece] | None:
    out: list[Piece] = []
    for segment in body.split(">>>"):
        name, _, rest = segment.partition("\n")
        if name.strip() == "all":
            out.append(rest)
            continue
        args = arguments_text(rest.strip())
        if not name.strip() or args is None:
            return None
        out.append(Call(name.strip(), args))
    return out


def _mistral_body(body: str) -> list[Piece] | None:
    if "[ARGS]" not in body:
        return json_calls(body)
    out: list[Piece] = []
    for segment in body.split("[TOOL_CALLS]"):
        name, _, args = segment.partition("[ARGS]")
        text = arguments_text(args.strip())
        if not name.strip() or text is None:
            return None
        out.append(Call(name.strip(), text))
    return out


def _generic_body(body: str) -> list[Piece] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("response"), str):
        return [value["response"]]
    items = value.get("tool_calls") or ([value["tool_call"]] if "tool_call" in value else [])
    calls = [call_from(item) for item in items]
    return None if not calls or None in calls else calls  # type: ignore[return-value]


@dataclass(frozen=True)
class ToolFormat:
    """A family's syntax. ``opens``: opening markers → whether the marker belongs to the
    body. ``close``: the closing marker (None: to the end). ``trigger``: the marker a
    forced grammar starts with and a lazy one waits for. ``args_key``: the arguments'
    key in the family's JSON call object. ``heads``: where a call's name is known and
    its arguments object begins (None: calls come whole, once parsed)."""

    name: str
    opens: dict[str, bool]
    close: str | None
    parse_body: Callable[[str], list[Piece] | None]
    trigger: str
    args_key: str = "arguments"
    heads: Heads | None = None

    def parser(self) -> MarkedCalls:
        return MarkedCalls(self.opens, self.close, self.parse_body, self.heads)


FORMATS: dict[str, ToolFormat] = {
    f.name: f
    for f in (
        ToolFormat(
            "hermes",
            {"<tool_call>": False},
            "</tool_call>",
            json_calls,
            "<tool_call>",
            heads=JSON_HEADS,
        ),
        ToolFormat(
            "llama3",
            {"<|python_tag|>": False, '{"name"': True, '{"type": "function"': True},
            None,
            json_calls,
            "<|python_tag|>",
            args_key="parameters",
            heads=JSON_HEADS,
        ),
        ToolFormat(
            "mistral",
            {"[TOOL_CALLS]": False},
            None,
            _mistral_body,
            "[TOOL_CALLS]",
            heads=MISTRAL_HEADS,
        ),
        ToolFormat(
            "harmony",
            {"<|start|>assistant" + HARMONY_OPEN: False, HARMONY_OPEN: False},
            "<|call|>",
            _named_body("<|message|>"),
            HARMONY_OPEN,
            heads=heads((r"^(.*?)<\|message\|>\s*(?=\{)", plain_name)),
        ),
        ToolFormat(
            "deepseek",
            {DS_CALLS_BEGIN: False},
            DS_CALLS_END,
            _deepseek_body,
            DS_CALLS_BEGIN,
            heads=DEEPSEEK_HEADS,
        ),
        ToolFormat("functionary_v3_2", {">>>": False}, None, _functionary_v32_body, ">>>"),
        ToolFormat(
            "functionary_v3_1",
            {"<function=": False},
            "</function>",
            _named_body(">"),
            "<function=",
            heads=heads((r'^([^>{"\n]+)>\s*(?=\{)', plain_name)),
        ),
        ToolFormat("generic", {"{": True}, None, _generic_body, "", heads=JSON_HEADS),
    )
}

# (template text that identifies the family, family), first match wins
_SIGNS: list[tuple[tuple[str, ...], str]] = [
    (("<|channel|>",), "harmony"),
    ((DS_CALLS_BEGIN,), "deepseek"),
    ((">>>all",), "functionary_v3_2"),
    (("<function=", "<|start_header_id|>"), "functionary_v3_1"),
    (("[TOOL_CALLS]",), "mistral"),
    (("<|start_header_id|>", "ipython"), "llama3"),
    (("<tool_call>",), "hermes"),
]


def detect_tool_format(template: str | None) -> ToolFormat:
    """The family of ``template`` (generic when it shows no known tool syntax)."""
    text = template or ""
    for signs, name in _SIGNS:
        if all(sign in text for sign in signs):
            return FORMATS[name]
    return FORMATS["generic"]


def template_takes_tools(template: str | None) -> bool:
    """The template renders ``tools`` itself (else freehold describes them)."""
    return bool(template) and re.search(r"\btools\b", template or "") is not None
