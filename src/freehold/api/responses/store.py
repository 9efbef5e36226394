"""Stored responses, so a conversation can continue by ``previous_response_id``.

Bounded and in memory: the oldest are dropped first, and all are lost on restart.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from freehold.api.turn import Message
from freehold.errors import not_found


@dataclass(frozen=True)
class Stored:
    """A finished response and its conversation: the messages it was generated from
    (without ``instructions``, which do not carry over) followed by its own output."""

    response: dict[str, Any]
    messages: tuple[Message, ...]


class ResponseStore:
    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, Stored] = OrderedDict()

    def put(self, stored: Stored) -> None:
        if self.size == 0:
            return
        self._items[stored.response["id"]] = stored
        self._items.move_to_end(stored.response["id"])
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def get(self, response_id: str, param: str | None = None) -> Stored:
        """The stored response; 404 if it was never stored, was deleted or dropped."""
        stored = self._items.get(response_id)
        if stored is None:
            raise not_found(
                f"no response with id '{response_id}' is stored (responses are kept in memory, "
                f"the last {self.size}, and lost on restart)",
                param=param,
            )
        return stored

    def delete(self, response_id: str) -> None:
        self.get(response_id)
        del self._items[response_id]
