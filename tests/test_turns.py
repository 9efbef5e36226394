"""DecodeTurns: one decode at a time across models, first come first served."""

from __future__ import annotations

import threading
import time

from freehold.engine.turns import DecodeTurns


def _wait(check, timeout: float = 10) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.001)
    return False


def test_turns_are_exclusive_and_served_in_arrival_order():
    turns = DecodeTurns()
    order: list[str] = []
    inside = 0
    most = 0

    def take(name: str) -> None:
        nonlocal inside, most
        with turns.turn():
            inside += 1
            most = max(most, inside)
            order.append(name)
            inside -= 1

    with turns.turn():  # held: the others queue behind it
        threads = []
        for i, name in enumerate(["b", "c", "d"]):
            threads.append(threading.Thread(target=take, args=(name,)))
            threads[-1].start()
            assert _wait(lambda i=i: turns._next_ticket == i + 2)
    for t in threads:
        t.join(timeout=10)
    assert order == ["b", "c", "d"] and most == 1
