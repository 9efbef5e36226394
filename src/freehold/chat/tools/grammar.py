"""The grammar of tool calls in a family's syntax, each call's arguments held to its
tool's parameters schema.

``forced`` grammars (tool_choice required / a named function) start with the family's
opening marker: the model must call. Lazy ones (tool_choice auto) describe what follows
the marker; the engine applies them once the output parser has read it. Generic (no
marker) grammars constrain the whole answer to its JSON shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llama_cpp.llama_grammar import PRIMITIVE_RULES, SchemaConverter

from freehold.chat.tools.formats import DS_CALL_BEGIN, DS_CALL_END, DS_CALLS_END, DS_SEP, ToolFormat
from freehold.chat.tools.schema import _LOOSE_CHAR, _STRICT_CHAR, unenforceable
from freehold.errors import bad_request


@dataclass(frozen=True)
class FunctionTool:
    name: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    description: str = ""


def lit(text: str) -> str:
    """A GBNF string literal."""
    return json.dumps(text, ensure_ascii=False)


def _json_alt(args_key: str) -> Callable[[str, str], str]:
    def alt(name: str, args: str) -> str:
        return (
            f'{lit(json.dumps(name))} space "," space {lit(json.dumps(args_key))} space ":" '
            f"space {args}"
        )

    return alt


def _obj(alts: str) -> str:
    return f'"{{" space {lit(json.dumps("name"))} space ":" space ( {alts} ) "}}" space'


# family → (one call's alternative for a tool, the calls' rule from "call"), body after marker
_CALL: dict[str, Callable[[str, str], str]] = {
    "harmony": lambda n, a: f'{lit(n)} " <|constrain|>json<|message|>" {a}',
    "deepseek": lambda n, a: f'{lit(n)} "\\n```json\\n" {a} "\\n```"',
    "functionary_v3_2": lambda n, a: f'{lit(n)} "\\n" {a}',
    "functionary_v3_1": lambda n, a: f'{lit(n)} ">" {a}',
}


def _calls(family: str, parallel: bool) -> tuple[str, str]:
    """(the rule "call" wraps "alts" into, the body rule over "call")."""
    if family == "hermes":
        call = '"\\n"? tc-obj "\\n"? "</tool_call>"'
        return call, 'call ( "\\n"? "<tool_call>" call )*' if parallel else "call"
    if family == "llama3":
        return "tc-obj", 'call ( ";" space call )*' if parallel else "call"
    if family in ("mistral", "generic"):
        rest = ' ( "," space call )*' if parallel else ""
        return "tc-obj", f'"[" space call{rest} "]" space'
    if family == "deepseek":
        call = f"{lit(DS_CALL_BEGIN + 'function' + DS_SEP)} tc-alts {lit(DS_CALL_END)}"
        rest = ' ( "\\n"? call )*' if parallel else ""
        return call, f"call{rest} {lit(DS_CALLS_END)}"
    if family == "harmony":
        return 'tc-alts "<|call|>"', "call"
    if family == "functionary_v3_1":
        return 'tc-alts "</function>"', 'call ( "<function=" call )*' if parallel else "call"
    return "tc-alts", 'call ( ">>>" call )*' if parallel else "call"


def tool_call_gbnf(
    fmt: ToolFormat, tools: list[FunctionTool], *, forced: bool, parallel: bool
) -> str:
    """The grammar for calls of ``tools`` in ``fmt``'s syntax (see the module doc)."""
    conv = SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    alt = _CALL.get(fmt.name, _json_alt(fmt.args_key))
    alts = []
    for i, tool in enumerate(tools):
        param = f"tools[{i}].function.parameters"
        bad = unenforceable(tool.parameters)
        if bad:
            raise bad_request(f"the JSON schema keyword '{bad}' cannot be enforced", param)
        try:
            schema = conv.resolve_refs(json.loads(json.dumps(tool.parameters)), f"tool{i}")
            alts.append(alt(tool.name, conv.visit(schema, f"tool{i}-args")))
        except (AssertionError, ValueError, KeyError, TypeError, RecursionError) as exc:
            raise bad_request(f"the parameters schema cannot be enforced: {exc}", param) from exc
    if fmt.name == "generic" and not forced:
        conv._add_primitive("string", PRIMITIVE_RULES["string"])  # the response's text
    call, body = _calls(fmt.name, parallel)
    rules = {"tc-alts": " | ".join(alts), "tc-obj": _obj("tc-alts"), "call": call}
    rules["root"] = _root(fmt, body, forced)
    grammar = conv.format_grammar() + "\n" + "\n".join(f"{k} ::= {v}" for k, v in rules.items())
    return grammar.replace(_LOOSE_CHAR, _STRICT_CHAR)


def _root(fmt: ToolFormat, body: str, forced: bool) -> str:
    if fmt.name == "generic":
        calls = f'"{{" space {lit(json.dumps("tool_calls"))} space ":" space {body} "}}" space'
        if forced:
            return calls
        response = f'"{{" space {lit(json.dumps("response"))} space ":" space string "}}" space'
        return f"{calls} | {response}"
    return f"{lit(fmt.trigger)} {body}" if forced else body
