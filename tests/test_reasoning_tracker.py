"""The budget tracker, driven the way the engine drives it: one call per token, the
injected closing text fed back token by token."""

from __future__ import annotations

from freehold.chat.reasoning import (
    BudgetTracker,
    answer_reserve,
    format_for_markers,
    harmony,
    mistral_think,
    think_tags,
)

THINK = think_tags()


def run(tracker: BudgetTracker, tokens: list[str], limit: int = 200) -> tuple[str, int]:
    """Generate ``tokens`` (then "x" forever, up to ``limit`` tokens), forcing what the
    tracker asks for character by character, as an engine forces tokens. Returns the
    text and the token index at which the tracker asked to close (-1: never)."""
    out, forced, asked, queue = [], [], -1, list(tokens)
    for i in range(limit):
        piece = forced.pop(0) if forced else (queue.pop(0) if queue else "x")
        out.append(piece)
        inject = tracker.feed(piece)
        if inject:
            assert asked == -1, "the tracker asked twice for one block"
            asked, forced = i, list(inject)
        if not tracker.inside and not forced and not queue:
            break
    return "".join(out), asked


def test_budget_closes_the_block_and_counts_thinking() -> None:
    tracker = BudgetTracker(THINK, starts_inside=True, budget=5)
    text, asked = run(tracker, ["a"] * 50)
    assert asked == 4  # the fifth thinking token spends the budget
    assert text.startswith("aaaaa" + THINK.close + "a")  # then the model answers
    assert tracker.closed_early and not tracker.inside
    assert tracker.reasoning_tokens == 5 + len("\n</think>")  # up to the end marker


def test_no_budget_lets_the_model_close_itself() -> None:
    tracker = BudgetTracker(THINK, starts_inside=True)
    text, asked = run(tracker, ["hm", "m", "</", "think", ">", "\n\n", "Hi"])
    assert asked == -1 and not tracker.closed_early
    assert tracker.reasoning_tokens == 5  # "hm" "m" "</" "think" ">" — the answer is not
    assert tracker.generated == 7


def test_block_opened_by_the_model_is_counted_from_its_start_marker() -> None:
    tracker = BudgetTracker(THINK, budget=3)
    for piece in ["Sure", " ", "<think>"]:
        assert tracker.feed(piece) == ""
    assert tracker.inside and tracker.reasoning_tokens == 1
    assert tracker.feed("a") == ""
    assert tracker.feed("b") == THINK.close
    assert tracker.feed("c") == ""  # the close is already on its way


def test_reserve_keeps_room_for_the_answer() -> None:
    tracker = BudgetTracker(THINK, starts_inside=True, max_tokens=40, reserve=15)
    _, asked = run(tracker, [], limit=40)
    assert asked == 24  # 25 generated, 15 left
    assert not tracker.inside


def test_a_second_block_after_the_budget_is_closed_at_once() -> None:
    tracker = BudgetTracker(THINK, starts_inside=True, budget=2)
    run(tracker, ["a", "b"])
    assert not tracker.inside
    assert tracker.feed("<think>") == THINK.close


def test_markers_split_across_tokens_are_seen() -> None:
    tracker = BudgetTracker(mistral_think(), budget=100)
    for piece in ["[TH", "INK", "]", "x", "[/", "THI", "NK]"]:
        tracker.feed(piece)
    # a token counts from the one that completes the start marker to the one that ends it
    assert not tracker.inside and tracker.reasoning_tokens == 5


def test_harmony_closes_into_the_final_channel() -> None:
    fmt = harmony()
    tracker = BudgetTracker(fmt, budget=2)
    assert tracker.feed("<|channel|>analysis<|message|>") == ""
    assert tracker.feed("think") == fmt.close
    assert fmt.close.endswith("<|channel|>final<|message|>")


def test_format_for_markers() -> None:
    assert format_for_markers("<think>", "</think>") == THINK
    assert format_for_markers(harmony().start, harmony().end) == harmony()
    custom = format_for_markers("<reasoning>", "</reasoning>")
    assert custom.close == "\n</reasoning>\n\n" and custom.name == "custom"


def test_answer_reserve() -> None:
    assert answer_reserve(64) == 16
    assert answer_reserve(20) == 10  # never more than half
    assert answer_reserve(4096, close_tokens=3) == 515
    assert answer_reserve(100_000) == 512
