"""OpenAI's tools, tool_choice, response_format and ``grammar`` fields → the neutral plan.

Pure translation with 400s for bad input (unknown types, missing names, bad schemas).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from freehold.api.turn import Turn
from freehold.chat.tools.formats import ToolFormat
from freehold.chat.tools.grammar import FunctionTool
from freehold.chat.tools.plan import (
    OutputPlan,
    ToolChoice,
    json_object_grammar,
    json_schema_grammar,
    plan_output,
)
from freehold.engine.types import Grammar
from freehold.errors import bad_request

_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def function_tools(tools: Iterable[Any] | None) -> list[FunctionTool]:
    out = []
    for i, tool in enumerate(tools or []):
        param = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise bad_request("only tools of type 'function' are supported", f"{param}.type")
        fn = tool.get("function")
        if not isinstance(fn, dict) or not _NAME.match(str(fn.get("name", ""))):
            raise bad_request(
                "a function tool needs a name of letters, digits, _ . : - (at most 64)",
                f"{param}.function.name",
            )
        params = fn.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(params, dict):
            raise bad_request("parameters must be a JSON schema object", f"{param}.function")
        out.append(FunctionTool(fn["name"], params, str(fn.get("description") or "")))
    return out


def tool_choice(value: str | Mapping[str, Any] | None, parallel: bool | None) -> ToolChoice:
    par = parallel is not False
    if value is None or value in ("auto", "none", "required"):
        return ToolChoice(value or "auto", None, par)
    if isinstance(value, Mapping) and value.get("type") == "function":
        name = (value.get("function") or {}).get("name")
        if isinstance(name, str) and name:
            return ToolChoice("function", name, par)
    raise bad_request(
        "tool_choice must be 'none', 'auto', 'required' or "
        '{"type": "function", "function": {"name": ...}}',
        "tool_choice",
    )


def response_grammar(fmt: Mapping[str, Any] | None, grammar: str | None) -> Grammar | None:
    """The grammar for ``response_format`` (or the ``grammar`` GBNF extension)."""
    kind = (fmt or {}).get("type", "text")
    if grammar is not None and kind != "text":
        raise bad_request("send either response_format or grammar, not both", "grammar")
    if grammar is not None:
        return Grammar(grammar, param="grammar") if grammar.strip() else None
    if kind == "text":
        return None
    if kind == "json_object":
        return json_object_grammar()
    if kind == "json_schema":
        spec = (fmt or {}).get("json_schema")
        if not isinstance(spec, dict) or "schema" not in spec:
            raise bad_request(
                'response_format json_schema needs "json_schema": {"name", "schema"}',
                "response_format.json_schema",
            )
        return json_schema_grammar(spec["schema"], "response_format.json_schema.schema")
    raise bad_request(
        f"unknown response_format type '{kind}' (text, json_object or json_schema)",
        "response_format.type",
    )


def output_plan(turn: Turn, fmt: ToolFormat, template_has_tools: bool) -> OutputPlan:
    """A Turn's tools, tool_choice, parallel_tool_calls, response_format and grammar (in
    Chat Completions' shapes, whatever dialect it came from) as the engine's plan."""
    tools = function_tools(turn.tools)
    choice = tool_choice(turn.tool_choice, turn.parallel_tool_calls)
    if choice.mode in ("required", "function") and not tools:
        raise bad_request("tool_choice asks for a tool call but no tools were given", "tool_choice")
    output = response_grammar(turn.response_format, turn.grammar)
    return plan_output(tools, choice, fmt, output, template_has_tools)
