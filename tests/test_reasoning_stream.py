"""The streaming splitter: a case table, each case fed whole,
character by character and at random split points (fixed seed)."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from freehold.chat.reasoning import (
    Event,
    ReasoningFormat,
    ThinkSplitter,
    harmony,
    mistral_think,
    think_tags,
)

THINK = think_tags()
MISTRAL = mistral_think()
HARMONY = harmony()
R, C = "reasoning", "content"

# (name, format, starts_inside, generated text, expected runs of (kind, text))
CASES: list[tuple[str, ReasoningFormat, bool, str, list[Event]]] = [
    ("plain answer", THINK, False, "Hello world.", [(C, "Hello world.")]),
    ("block then answer", THINK, False, "<think>\nhmm\n</think>\n\nHi.", [(R, "hmm"), (C, "Hi.")]),
    (
        "starts inside",
        THINK,
        True,
        "\nLet me see.\n</think>\n\nParis.",
        [(R, "Let me see."), (C, "Paris.")],
    ),
    ("inside, never closed", THINK, True, "still thinking", [(R, "still thinking")]),
    ("unclosed block", THINK, False, "<think>abc", [(R, "abc")]),
    ("empty block", THINK, False, "<think>\n\n</think>\n\nYes.", [(C, "Yes.")]),
    (
        "content before block",
        THINK,
        False,
        "Hi <think>x</think> there",
        [(C, "Hi"), (R, "x"), (C, "there")],
    ),
    (
        "two blocks",
        THINK,
        False,
        "<think>a</think>b<think>c</think>d",
        [(R, "a"), (C, "b"), (R, "c"), (C, "d")],
    ),
    ("inner whitespace kept", THINK, True, "a \n b</think>c\n d", [(R, "a \n b"), (C, "c\n d")]),
    ("trailing whitespace kept at end", THINK, False, "answer\n", [(C, "answer\n")]),
    ("lookalike tag is text", THINK, False, "a <b> c < d <thin x", [(C, "a <b> c < d <thin x")]),
    ("partial marker at the end", THINK, True, "thought </thi", [(R, "thought </thi")]),
    ("partial start at the end", THINK, False, "x <thi", [(C, "x <thi")]),
    (
        "start marker inside thinking is text",
        THINK,
        True,
        "a <think> b</think>c",
        [(R, "a <think> b"), (C, "c")],
    ),
    ("stray end in content vanishes", THINK, False, "foo</think>\n\nbar", [(C, "foo\n\nbar")]),
    ("only whitespace", THINK, False, " \n ", []),
    ("unicode", THINK, True, "ça va ✓</think>👍 oui", [(R, "ça va ✓"), (C, "👍 oui")]),
    ("mistral", MISTRAL, False, "[THINK]hmm[/THINK]\n\nAnswer", [(R, "hmm"), (C, "Answer")]),
    ("mistral lookalike", MISTRAL, False, "[THI] [x]", [(C, "[THI] [x]")]),
    (
        "harmony",
        HARMONY,
        False,
        "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|message|>42",
        [(R, "Think."), (C, "42")],
    ),
    ("harmony final only", HARMONY, False, "<|channel|>final<|message|>42<|return|>", [(C, "42")]),
    (
        "harmony partial end",
        HARMONY,
        True,
        "t<|end|><|start|>assist",
        [(R, "t<|end|><|start|>assist")],
    ),
]


def fold(events: list[Event]) -> list[Event]:
    """Adjacent events of one kind joined: what a client reassembles from the deltas."""
    runs: list[Event] = []
    for kind, text in events:
        assert text, "an empty event was emitted"
        if runs and runs[-1][0] == kind:
            runs[-1] = (kind, runs[-1][1] + text)
        else:
            runs.append((kind, text))
    return runs


def whole(text: str) -> list[str]:
    return [text]


def chars(text: str) -> list[str]:
    return list(text)


def random_cuts(seed: int) -> Callable[[str], list[str]]:
    def cut(text: str) -> list[str]:
        rng = random.Random(seed)
        points = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, 5))) if text else []
        return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]

    return cut


FEEDS = {"whole": whole, "chars": chars, **{f"random{s}": random_cuts(s) for s in range(4)}}


def split(fmt: ReasoningFormat, inside: bool, pieces: list[str]) -> list[Event]:
    splitter = ThinkSplitter(fmt, inside)
    events: list[Event] = []
    for piece in pieces:
        events += splitter.feed(piece)
    return events + splitter.finish()


@pytest.mark.parametrize("feed", FEEDS.values(), ids=FEEDS.keys())
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_split_cases(case: tuple, feed: Callable[[str], list[str]]) -> None:
    _, fmt, inside, text, expected = case
    assert fold(split(fmt, inside, feed(text))) == expected


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_no_marker_ever_leaks_into_content(case: tuple) -> None:
    _, fmt, inside, text, _ = case
    for kind, piece in split(fmt, inside, chars(text)):
        if kind == C:
            assert fmt.start not in piece and fmt.end not in piece
            assert not any(d in piece for d in fmt.drop)


def test_partial_marker_is_held_until_known() -> None:
    splitter = ThinkSplitter(THINK, starts_inside=True)
    assert splitter.feed("abc </th") == [(R, "abc")]
    assert splitter.inside
    assert splitter.feed("ink>") == []
    assert not splitter.inside
    assert splitter.feed("Answer") == [(C, "Answer")]


def test_lookalike_is_released_as_soon_as_it_cannot_be_a_marker() -> None:
    splitter = ThinkSplitter(THINK)
    assert splitter.feed("a <thi") == [(C, "a")]
    assert splitter.feed("s") == [(C, " <this")]


def test_feeding_is_linear_in_the_text() -> None:
    # a long stream fed a character at a time never rescans what it already let go
    splitter = ThinkSplitter(THINK, starts_inside=True)
    text = "word " * 20_000 + "</think>answer"
    out = [e for ch in text for e in splitter.feed(ch)] + splitter.finish()
    runs = fold(out)
    assert runs[-1] == (C, "answer") and len(runs[0][1]) == len("word " * 20_000) - 1
