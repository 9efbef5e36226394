"""Input items as OpenAI lists them (``GET /v1/responses/{id}/input_items``): each with
an ``id``, references resolved, and the cursor pages over them.

Pure: stored items are looked up through the ``find`` function the caller passes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from freehold.api.responses.schemas import (
    FunctionCallItem,
    FunctionCallOutputItem,
    InputItem,
    ItemReference,
    MessageItem,
)
from freehold.errors import bad_request, not_found

Item = dict[str, Any]
FindItem = Callable[[str], Item | None]
_TEXT_PARTS = {"input_text", "output_text", "text"}
_PREFIXES = {
    "message": "msg",
    "function_call": "fc",
    "function_call_output": "fco",
    "reasoning": "rs",
}


def input_items(items: str | list[InputItem], find: FindItem) -> list[Item]:
    """The request's ``input`` as item resources: a string is one user message; an item
    keeps the ``id`` it was sent with (an output item sent back) or gets a new one; an
    ``item_reference`` becomes the stored item it names (404 when none is stored)."""
    if isinstance(items, str):
        return [_message({"type": "message", "role": "user", "content": items})]
    return [_resource(item, find, f"input.{i}") for i, item in enumerate(items)]


def check_unique(items: Sequence[Item], first: int) -> None:
    """400 when an id repeats (OpenAI refuses duplicate items): ``items[first:]`` are
    this request's input, named by their index in it; the rest came before."""
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item["id"] in seen:
            raise bad_request(
                f"duplicate item found with id '{item['id']}': remove duplicate items from "
                "your input (items of previous_response_id's response are already included)",
                f"input.{i - first}",
                "duplicate_item",
            )
        seen.add(item["id"])


def _resource(item: InputItem, find: FindItem, param: str) -> Item:
    if isinstance(item, ItemReference):
        found = find(item.id)
        if found is None:
            raise not_found(
                f"no item with id '{item.id}' is stored (item_reference names an input or "
                "output item of a stored response)",
                param=f"{param}.id",
            )
        return found
    sent = item.model_dump(exclude_none=True)
    sent.setdefault("id", _new_id(sent["type"]))
    if isinstance(item, MessageItem):
        return _message(sent)
    if isinstance(item, FunctionCallItem | FunctionCallOutputItem):
        sent.setdefault("status", "completed")
    return sent


def _new_id(kind: str) -> str:
    return f"{_PREFIXES[kind]}_{uuid.uuid4().hex}"


def _message(sent: Item) -> Item:
    """A message with its content as a list of parts: ``input_text`` (and the parts as
    sent) for user, system and developer; ``output_text`` for the assistant."""
    assistant = sent["role"] == "assistant"
    content = sent["content"]
    if isinstance(content, str):
        content = [{"type": "output_text" if assistant else "input_text", "text": content}]
    parts = [_part(part, assistant) for part in content]
    return {"id": _new_id("message"), "status": "completed", **sent, "content": parts}


def _part(part: Item, assistant: bool) -> Item:
    if part["type"] not in _TEXT_PARTS:
        return {"detail": "auto", **part} if part["type"] == "input_image" else part
    if assistant:
        return {"annotations": [], "logprobs": [], **part, "type": "output_text"}
    return {**part, "type": "input_text"}


def page(
    items: Sequence[Item], limit: int, order: str, after: str | None, before: str | None
) -> dict[str, Any]:
    """One cursor page of ``items`` (oldest first) in ``order``: those after the item
    ``after`` and before the item ``before``; the first ``limit`` of them, or the last
    ``limit`` when only ``before`` is given (paging back)."""
    ordered = list(items) if order == "asc" else list(reversed(items))
    ids = [item["id"] for item in ordered]
    start = _index(ids, after, "after") + 1 if after is not None else 0
    stop = _index(ids, before, "before") if before is not None else len(ordered)
    window = ordered[start:stop]
    data = window[-limit:] if before is not None and after is None else window[:limit]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": len(window) > len(data),
    }


def _index(ids: list[str], cursor: str, param: str) -> int:
    try:
        return ids.index(cursor)
    except ValueError:
        raise bad_request(
            f"'{param}' names no input item of this response: '{cursor}'", param, "invalid_value"
        ) from None
