"""OpenAI Responses → the internal Turn (pure: the previous conversation is passed in)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from pydantic import TypeAdapter

from freehold.api.images import IMAGES_KEY
from freehold.api.responses.schemas import (
    Content,
    FunctionCallItem,
    FunctionCallOutputItem,
    InputItem,
    MessageItem,
    OtherContent,
    ResponsesRequest,
    TextContent,
)
from freehold.api.turn import Message, Turn
from freehold.engine.types import SamplingParams
from freehold.engine.vision import MEDIA_MARKER
from freehold.errors import bad_request

_ITEMS = TypeAdapter(list[InputItem])
# Responses' effort levels in the reasoning normaliser's words.
_EFFORTS = {"xhigh": "high"}


def to_turn(body: ResponsesRequest, conversation: tuple[Message, ...]) -> Turn:
    """The internal request: ``instructions``, then ``conversation`` (the previous
    response's conversation and this request's input, see ``conversation_of``)."""
    system = [{"role": "system", "content": body.instructions}] if body.instructions else []
    d = SamplingParams()
    sampling = replace(
        d,
        temperature=d.temperature if body.temperature is None else body.temperature,
        top_p=d.top_p if body.top_p is None else body.top_p,
    )
    return Turn(
        messages=(*system, *conversation),
        model=body.model,
        max_tokens=body.max_output_tokens,
        sampling=sampling,
        reasoning=_reasoning(body),
        tools=tuple(_tool(t.model_dump(exclude_none=True)) for t in body.tools or ()),
        tool_choice=_tool_choice(body),
        parallel_tool_calls=body.parallel_tool_calls,
        response_format=_response_format(body),
    )


def _reasoning(body: ResponsesRequest) -> dict[str, Any]:
    effort = body.reasoning.effort if body.reasoning else None
    return {"reasoning": {"effort": _EFFORTS.get(effort, effort)}} if effort else {}


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    tool.pop("type")
    tool.setdefault("parameters", {"type": "object", "properties": {}})
    return {"type": "function", "function": tool}


def _tool_choice(body: ResponsesRequest) -> str | dict[str, Any]:
    choice = body.tool_choice
    if choice is None or isinstance(choice, str):
        return choice or "auto"
    if choice.name not in {t.name for t in body.tools or ()}:
        raise bad_request(
            f"tool_choice names the function {choice.name!r}, which is not in tools",
            "tool_choice.name",
        )
    return {"type": "function", "function": {"name": choice.name}}


def _response_format(body: ResponsesRequest) -> dict[str, Any] | None:
    fmt = body.text.format if body.text else None
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"type": "json_object"}
    if fmt.schema_ is None or not fmt.name:
        raise bad_request("a json_schema format needs a name and a schema", "text.format")
    schema = {"name": fmt.name, "schema": fmt.schema_, "strict": bool(fmt.strict)}
    if fmt.description:
        schema["description"] = fmt.description
    return {"type": "json_schema", "json_schema": schema}


def conversation_of(items: Sequence[dict[str, Any]], first: int) -> tuple[Message, ...]:
    """Item resources (see ``items.input_items``) as template-ready messages:
    ``items[first:]`` are this request's input, named in errors by their index in it."""
    return tuple(input_messages(_ITEMS.validate_python(list(items)), first))


def input_messages(items: list[InputItem], first: int = 0) -> list[Message]:
    """Input items as template-ready messages: function calls join the assistant
    message before them (one turn: its text, then its calls); their outputs become tool
    messages; reasoning items are dropped (templates do not show earlier thinking)."""
    out: list[Message] = []
    for i, item in enumerate(items):
        param = f"input.{i - first}"
        if isinstance(item, MessageItem):
            role = "system" if item.role == "developer" else item.role
            out.append(_content_message(role, item.content, f"{param}.content"))
        elif isinstance(item, FunctionCallItem):
            _add_call(out, item, f"{param}.arguments")
        elif isinstance(item, FunctionCallOutputItem):
            content = _text(item.output, f"{param}.output")
            out.append({"role": "tool", "tool_call_id": item.call_id, "content": content})
    return out


def _add_call(out: list[Message], item: FunctionCallItem, param: str) -> None:
    try:
        json.loads(item.arguments)
    except ValueError as exc:
        raise bad_request(f"function call arguments are not valid JSON: {exc}", param) from exc
    call = {
        "id": item.call_id,
        "type": "function",
        "function": {"name": item.name, "arguments": item.arguments},
    }
    last = out[-1] if out else None
    if last is not None and last["role"] == "assistant":
        last.setdefault("tool_calls", []).append(call)
    else:
        out.append({"role": "assistant", "content": "", "tool_calls": [call]})


def _content_message(role: str, content: str | list[Content], param: str) -> Message:
    """A message item: its text, with a media marker for each ``input_image`` (listed
    under IMAGES_KEY for the Service to decode)."""
    if isinstance(content, str) or role != "user":
        return {"role": role, "content": _text(content, param)}
    texts, images = [], []
    for j, part in enumerate(content):
        url = (part.model_extra or {}).get("image_url")
        if isinstance(part, OtherContent) and part.type == "input_image" and isinstance(url, str):
            images.append((f"{param}.{j}", url))
            texts.append(MEDIA_MARKER)
        else:
            texts.append(_text([part], f"{param}.{j}"))
    message: Message = {"role": role, "content": "\n".join(texts)}
    return {**message, IMAGES_KEY: images} if images else message


def _text(content: str | list[Content], param: str) -> str:
    if isinstance(content, str):
        return content
    texts = []
    for j, part in enumerate(content):
        if not isinstance(part, TextContent):
            raise bad_request(
                f"{part.type} content is not supported: freehold's Responses API takes text "
                "only (images go through /v1/chat/completions with a vision model)",
                f"{param}.{j}",
                "unsupported_content",
            )
        texts.append(part.text)
    return "\n".join(texts)


def skeleton(body: ResponsesRequest, model: str, store: bool) -> dict[str, Any]:
    """The response object before any output: the request's settings, echoed."""
    d = SamplingParams()
    reasoning = body.reasoning.model_dump(exclude={"generate_summary"}) if body.reasoning else {}
    return {
        "id": f"resp_{uuid.uuid4().hex}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "completed_at": None,
        "error": None,
        "incomplete_details": None,
        "instructions": body.instructions,
        "max_output_tokens": body.max_output_tokens,
        "model": model,
        "output": [],
        "parallel_tool_calls": body.parallel_tool_calls is not False,
        "previous_response_id": body.previous_response_id,
        "reasoning": {"effort": None, "summary": None, **reasoning},
        "store": store,
        "temperature": d.temperature if body.temperature is None else body.temperature,
        "text": {"format": _echo_format(body)},
        "tool_choice": _echo_choice(body),
        "tools": [_echo_tool(t.model_dump(exclude_none=True)) for t in body.tools or ()],
        "top_p": d.top_p if body.top_p is None else body.top_p,
        "truncation": "disabled",
        "metadata": body.metadata or {},
        **({"user": body.user} if body.user is not None else {}),
    }


def _echo_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A function tool as OpenAI echoes it: parameters and strict always present (calls
    are grammar-constrained to the parameters schema, so strict holds)."""
    return {"parameters": {"type": "object", "properties": {}}, "strict": True, **tool}


def _echo_choice(body: ResponsesRequest) -> Any:
    choice = body.tool_choice
    if choice is None or isinstance(choice, str):
        return choice or "auto"
    return choice.model_dump()


def _echo_format(body: ResponsesRequest) -> dict[str, Any]:
    fmt = body.text.format if body.text else None
    return fmt.model_dump(by_alias=True, exclude_none=True) if fmt else {"type": "text"}
