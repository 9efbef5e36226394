"""Anthropic Messages → the internal Turn (pure: no engine, no settings)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from freehold.api.anthropic.schemas import (
    CountTokensRequest,
    ImageBlock,
    MessageParam,
    MessagesRequest,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from freehold.api.images import IMAGES_KEY
from freehold.api.turn import Message, Turn
from freehold.engine.types import SamplingParams
from freehold.engine.vision import MEDIA_MARKER
from freehold.errors import bad_request

TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}


def to_turn(body: CountTokensRequest) -> Turn:
    """The internal request for ``body`` (a count_tokens body has no sampling fields)."""
    messages, prefill = _conversation(body)
    turn = Turn(
        messages=tuple(messages),
        model=body.model,
        reasoning=_reasoning(body),
        tools=tuple(_tool(t.name, t.description, t.input_schema) for t in body.tools or ()),
        tool_choice=_tool_choice(body),
        parallel_tool_calls=_parallel(body),
        response_format=_response_format(body),
        prefill=prefill,
    )
    if not isinstance(body, MessagesRequest):
        return turn
    return replace(
        turn,
        max_tokens=body.max_tokens,
        sampling=_sampling(body),
        stop=tuple(s for s in body.stop_sequences or () if s),
    )


def _sampling(body: MessagesRequest) -> SamplingParams:
    d = SamplingParams()
    return replace(
        d,
        temperature=d.temperature if body.temperature is None else body.temperature,
        top_p=d.top_p if body.top_p is None else body.top_p,
        top_k=d.top_k if body.top_k is None else body.top_k,
    )


def _reasoning(body: CountTokensRequest) -> dict[str, Any]:
    """``thinking`` in the reasoning normaliser's words: enabled (with its budget) or not."""
    thinking = body.thinking
    if thinking is None:
        return {}
    if thinking.type == "disabled":
        return {"reasoning": {"enabled": False}}
    if thinking.type == "adaptive":
        return {"reasoning": {"enabled": True}}
    if thinking.budget_tokens is None:
        raise bad_request(
            "thinking.budget_tokens is required when thinking is enabled", "thinking.budget_tokens"
        )
    limit = getattr(body, "max_tokens", None)
    if limit is not None and thinking.budget_tokens >= limit:
        raise bad_request(
            f"thinking.budget_tokens ({thinking.budget_tokens}) must be less than max_tokens "
            f"({limit})",
            "thinking.budget_tokens",
        )
    return {"reasoning": {"enabled": True, "max_tokens": thinking.budget_tokens}}


def _tool(name: str, description: str | None, schema: dict[str, Any]) -> dict[str, Any]:
    function = {"name": name, "parameters": schema}
    if description:
        function["description"] = description
    return {"type": "function", "function": function}


def _tool_choice(body: CountTokensRequest) -> str | dict[str, Any]:
    choice = body.tool_choice
    if choice is None:
        return "auto"
    if choice.type == "tool":
        names = {t.name for t in body.tools or ()}
        if choice.name not in names:
            raise bad_request(
                f"tool_choice names the tool {choice.name!r}, which is not in tools",
                "tool_choice.name",
            )
        return {"type": "function", "function": {"name": choice.name}}
    return TOOL_CHOICES[choice.type]


def _parallel(body: CountTokensRequest) -> bool | None:
    choice = body.tool_choice
    if choice is None or choice.disable_parallel_tool_use is None:
        return None
    return not choice.disable_parallel_tool_use


def _response_format(body: CountTokensRequest) -> dict[str, Any] | None:
    fmt = body.output_config.format if body.output_config else None
    if fmt is None:
        return None
    schema = {"name": "output", "schema": fmt.schema_, "strict": True}
    return {"type": "json_schema", "json_schema": schema}


def _system(body: CountTokensRequest) -> list[Message]:
    if body.system is None:
        return []
    text = body.system if isinstance(body.system, str) else "\n".join(b.text for b in body.system)
    return [{"role": "system", "content": text}] if text else []


def _conversation(body: CountTokensRequest) -> tuple[list[Message], str]:
    """Template-ready messages, and the assistant prefill when the last turn is one."""
    out = _system(body)
    for i, message in enumerate(body.messages):
        out += _message(message, f"messages.{i}.content")
    last = body.messages[-1]
    if last.role == "assistant" and not out[-1].get("tool_calls"):
        return out[:-1], out[-1]["content"]
    return out, ""


def _message(message: MessageParam, param: str) -> list[Message]:
    if isinstance(message.content, str):
        return [{"role": message.role, "content": message.content}]
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    results: list[Message] = []
    images: list[tuple[str, str]] = []
    for j, block in enumerate(message.content):
        where = f"{param}.{j}"
        if isinstance(block, TextBlock):
            texts.append(block.text)
        elif isinstance(block, ImageBlock) and message.role == "user":
            images.append((where, _image_url(block, where)))
            texts.append(MEDIA_MARKER)
        elif isinstance(block, ToolUseBlock):
            _only(message, "assistant", block.type, where)
            calls.append(_call(block))
        elif isinstance(block, ToolResultBlock):
            _only(message, "user", block.type, where)
            results.append(_result(block, where))
        elif block.type in ("image", "document"):
            raise _not_text(block.type, where)
        # thinking blocks of earlier turns are not shown to the model again
    out = list(results)
    if texts or calls or not results:
        turn: Message = {"role": message.role, "content": "\n".join(texts)}
        turn = {**turn, IMAGES_KEY: images} if images else turn
        out.append({**turn, "tool_calls": calls} if calls else turn)
    return out


def _image_url(block: ImageBlock, where: str) -> str:
    """An image block's source as a URL: base64 data becomes a data: URL."""
    source = block.source
    if source.get("type") == "base64" and isinstance(source.get("data"), str):
        return f"data:{source.get('media_type', 'image/png')};base64,{source['data']}"
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return str(source["url"])
    raise bad_request("an image source is base64 data or a url", f"{where}.source")


def _only(message: MessageParam, role: str, kind: str, where: str) -> None:
    if message.role != role:
        raise bad_request(f"{kind} blocks belong in {role} messages", where)


def _call(block: ToolUseBlock) -> dict[str, Any]:
    arguments = json.dumps(block.input, ensure_ascii=False)
    return {
        "id": block.id,
        "type": "function",
        "function": {"name": block.name, "arguments": arguments},
    }


def _result(block: ToolResultBlock, where: str) -> Message:
    if isinstance(block.content, str):
        text = block.content
    else:
        for k, part in enumerate(block.content):
            if isinstance(part, ImageBlock):
                raise _not_text("image", f"{where}.content.{k}")
        text = "\n".join(part.text for part in block.content if isinstance(part, TextBlock))
    return {"role": "tool", "tool_call_id": block.tool_use_id, "content": text}


def _not_text(kind: str, where: str) -> Exception:
    return bad_request(
        f"{kind} blocks are not supported: freehold's Messages API takes text only "
        "(images go through /v1/chat/completions with a vision model)",
        where,
        "unsupported_content",
    )
