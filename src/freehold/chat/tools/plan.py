"""Dialect-neutral planning of tools and structured output for one request.

Every API dialect turns its body into ``ToolChoice`` + ``FunctionTool``s and/or an output
format, then calls ``plan_output``: it returns the engine's ``tool_format`` and
``Grammar``, and the ``tools`` value for the chat template (Hugging Face's shape).

Precedence when a request has both: a forced tool call (``required``/named) wins over a
structured output format; under ``auto`` a structured format constrains the answer and
tool calls are still parsed (but cannot be generated unless the format allows them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from freehold.chat.tools.formats import ToolFormat
from freehold.chat.tools.grammar import FunctionTool, tool_call_gbnf
from freehold.chat.tools.schema import JSON_OBJECT_GBNF, schema_to_gbnf
from freehold.engine.types import Grammar
from freehold.errors import bad_request


@dataclass(frozen=True)
class ToolChoice:
    """``mode``: auto | none | required | function (then ``name``)."""

    mode: str = "auto"
    name: str | None = None
    parallel: bool = True


@dataclass(frozen=True)
class OutputPlan:
    tool_format: str | None = None
    grammar: Grammar | None = None
    template_tools: list[dict[str, Any]] | None = None
    system_note: str | None = None  # for templates that know no tools (generic format)


def json_object_grammar(param: str = "response_format") -> Grammar:
    return Grammar(JSON_OBJECT_GBNF, param=param)


def json_schema_grammar(schema: Any, param: str = "response_format") -> Grammar:
    return Grammar(schema_to_gbnf(schema, param), param=param)


def template_tools(tools: list[FunctionTool]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]


def generic_note(tools: list[FunctionTool]) -> str:
    """The system text that offers tools to a model whose template knows none."""
    listed = json.dumps(template_tools(tools), ensure_ascii=False, indent=2)
    return (
        "You can call these tools:\n"
        f"{listed}\n"
        'Answer in JSON only: {"tool_calls": [{"name": <tool name>, "arguments": {...}}]} '
        'to call tools, or {"response": <your answer>} to answer directly.'
    )


def plan_output(
    tools: list[FunctionTool],
    choice: ToolChoice,
    fmt: ToolFormat,
    output: Grammar | None = None,
    template_has_tools: bool = True,
) -> OutputPlan:
    """The engine's plan for ``tools`` under ``choice`` in ``fmt``'s syntax, with an
    optional structured ``output`` grammar (see the module doc for precedence)."""
    if not tools or choice.mode == "none":
        offered = template_tools(tools) if tools and template_has_tools else None
        return OutputPlan(None, output, offered)
    if choice.mode == "function" and choice.name not in {t.name for t in tools}:
        raise bad_request(
            f"tool_choice names the function '{choice.name}', which is not among the tools",
            "tool_choice",
        )
    forced = choice.mode in ("required", "function")
    chosen = [t for t in tools if t.name == choice.name] if choice.mode == "function" else tools
    offered = template_tools(tools) if template_has_tools else None
    note = None if template_has_tools else generic_note(tools)
    if output is not None and not forced:
        return OutputPlan(fmt.name, output, offered, note)
    parallel = choice.parallel and choice.mode != "function"
    gbnf = tool_call_gbnf(fmt, chosen, forced=forced, parallel=parallel)
    lazy = not forced and fmt.name != "generic"  # generic: the whole answer is JSON
    return OutputPlan(fmt.name, Grammar(gbnf, lazy=lazy, param="tools"), offered, note)
