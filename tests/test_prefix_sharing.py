"""Cross-slot prefix sharing: a prompt starts from the KV cells of whichever slot, busy or
idle, holds its longest prefix (engine/prefix.py), over the real Scheduler and the fake
llama.cpp of tests/fake_llama.py, whose KV cache checks every position it is given."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest
from fake_llama import FakeLlama
from test_scheduler import WAIT, scheduler, submit

from freehold.engine.prefix import MIN_COPY, common_prefix, place

SYSTEM = "You are a careful assistant. Answer in one short sentence, politely. " * 2


@dataclass(eq=False)
class View:
    """A slot as engine/prefix.py sees it."""

    cache: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    last_used: float = 0.0
    busy: bool = False


def tokens(text: str) -> list[int]:
    return list(text.encode())


@pytest.mark.parametrize(
    ("a", "b", "n"),
    [("", "", 0), ("abc", "abd", 2), ("abc", "abcdef", 3), ("x" * 999 + "y", "x" * 1000, 999)],
)
def test_common_prefix(a: str, b: str, n: int):
    assert common_prefix(tokens(a), tokens(b)) == common_prefix(tokens(b), tokens(a)) == n


def test_an_idle_slot_holding_the_prefix_is_reused_in_place():
    prompt = tokens(SYSTEM + "question")
    home, other = View(tokens(SYSTEM + "old"), last_used=2), View(last_used=1)
    placed = place(prompt, [other, home])
    assert placed is not None and (placed.slot, placed.reuse, placed.source) == (
        home,
        len(SYSTEM),
        None,
    )


def test_a_busy_slot_holding_the_prefix_is_copied_into_the_least_recently_used_idle_slot():
    prompt = tokens(SYSTEM + "question")
    running = View(tokens(SYSTEM + "other question and its answer"), [7], busy=True)
    newer, older = View(tokens("abc"), last_used=5), View(tokens("xyz"), last_used=3)
    placed = place(prompt, [running, newer, older])
    assert placed is not None and (placed.slot, placed.reuse, placed.source) == (
        older,
        len(SYSTEM),
        running,
    )


def test_a_short_gain_is_not_worth_a_copy():
    prompt = tokens(SYSTEM + "question")
    home = View(tokens(SYSTEM[: -MIN_COPY + 1]), last_used=1)
    running = View(tokens(SYSTEM + "other"), [7], busy=True)
    placed = place(prompt, [running, home])
    assert placed is not None and (placed.slot, placed.source) == (home, None)


def test_a_prefix_still_being_computed_is_waited_for():
    prompt = tokens(SYSTEM + "question")
    computing = tokens(SYSTEM + "other question")
    running = View(computing[:10], computing[10:], busy=True)
    assert place(prompt, [running, View()]) is None
    running.cache, running.pending = computing, [7]
    placed = place(prompt, [running, View()])
    assert placed is not None and placed.source is running and placed.reuse == len(SYSTEM)


def test_cells_a_request_cannot_use_are_neither_reused_nor_copied_nor_waited_for():
    # e.g. made with other LoRA adapters
    prompt = tokens(SYSTEM + "question")
    running = View(tokens(SYSTEM + "x"), [7], busy=True)
    computing = View(tokens(SYSTEM[:10]), tokens(SYSTEM[10:] + "y"), busy=True)
    warm, cold = View(tokens(SYSTEM + "z"), last_used=1), View(last_used=5)
    slots = [running, computing, warm, cold]
    placed = place(prompt, slots, usable=lambda slot: slot is cold)
    assert placed is not None and (placed.slot, placed.reuse, placed.source) == (warm, 0, None)
    usable = place(prompt, slots)
    assert usable is not None and (usable.slot, usable.reuse) == (warm, len(SYSTEM))


def test_nothing_is_placed_without_an_idle_slot():
    assert place(tokens("hi"), [View(busy=True)]) is None


@dataclass(eq=False)
class PerSeq(FakeLlama):
    """Counts the tokens decoded for each sequence."""

    per_seq: Counter[int] = field(default_factory=Counter)

    def decode(self, entries: list[tuple[int, int, int, bool]]) -> None:
        super().decode(entries)
        self.per_seq.update(seq for _, _, seq, _ in entries)


def test_a_request_copies_the_prefix_of_a_running_one_and_decodes_only_its_tail():
    backend = PerSeq(reply=b"ok", n_ctx=4096)
    with scheduler(backend, slots=2) as sched:
        running = submit(sched, SYSTEM + "first", max_tokens=2000, ignore_eos=True)
        assert running.first.wait(WAIT)
        second = submit(sched, SYSTEM + "second").wait()
        running.job.cancelled = True
    assert backend.calls["copy_seq"] == 1
    assert second.usage and second.usage.cached_tokens == len(SYSTEM)
    assert second.text == "ok" and second.finish == "stop"
    # slot 1 decoded only its tail and reply (the fake KV checks the copied positions)
    assert backend.per_seq[1] == len("second") + len("ok")


def test_concurrent_chats_compute_a_shared_system_prompt_once():
    backend = FakeLlama(reply=b"fine", n_ctx=4 * 512, n_batch=32)
    questions = ["how are you?", "what time is it?", "why?", "where to?"]
    with scheduler(backend, slots=4, start=False) as sched:
        outs = [submit(sched, SYSTEM + q) for q in questions]
        sched.start()
        for out in outs:
            out.wait()
    assert [o.text for o in outs] == ["fine"] * 4
    first, *later = [o.usage.cached_tokens for o in outs if o.usage]
    # the later ones waited while the first computed the system prompt 32 tokens a step,
    # until less than MIN_COPY of it was left, then took a copy of what it had
    copied = 4 * 32
    assert len(SYSTEM) - copied < MIN_COPY
    assert (first, later) == (0, [copied] * 3)
    prompts = sum(len(SYSTEM + q) for q in questions)
    assert backend.decoded_tokens == prompts - 3 * copied + 4 * len("fine")


def test_a_waiting_request_goes_on_when_the_slot_computing_its_prefix_fails():
    backend = FakeLlama(reply=b"ok", n_batch=32, fail_at={"decode": {1}})
    with scheduler(backend, slots=2, start=False) as sched:
        first, second = submit(sched, SYSTEM + "one"), submit(sched, SYSTEM + "two")
        sched.start()
        first.wait(), second.wait()
    assert first.error is not None and first.error.status == 500
    assert second.text == "ok" and second.usage and second.usage.cached_tokens == 0
