"""Stored responses, so a conversation can continue by ``previous_response_id`` or by
``item_reference`` to their items.

Bounded and in memory: the oldest are dropped first, and all are lost on restart.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from freehold.errors import not_found

Item = dict[str, Any]


@dataclass(frozen=True)
class Stored:
    """A finished response and the input items it was generated from (its previous
    response's items and output first; ``instructions`` do not carry over)."""

    response: dict[str, Any]
    items: tuple[Item, ...]

    def context(self) -> tuple[Item, ...]:
        """What a response continuing from this one starts from: its items, its output."""
        return (*self.items, *self.response["output"])


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

    def find_item(self, item_id: str) -> Item | None:
        """The input or output item ``item_id`` of a stored response (the newest first)."""
        for stored in reversed(self._items.values()):
            for item in (*stored.response["output"], *stored.items):
                if item["id"] == item_id:
                    return item
        return None

    def delete(self, response_id: str) -> None:
        self.get(response_id)
        del self._items[response_id]
