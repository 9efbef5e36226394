"""Stop-string holdback and UTF-8 reassembly, fed whole and piece by piece."""

from __future__ import annotations

import random

import pytest

from freehold.engine.textstream import StopMatcher, Utf8Stream

CASES = [  # text, stops, expected output, stopped
    ("hello world", ["END"], "hello world", False),
    ("hello END world", ["END"], "hello ", True),
    ("abcEN", ["END"], "abcEN", False),
    ("a\n\nb", ["\n\n"], "a", True),
    ("xyz", ["z", "yz"], "x", True),
    ("aaab", ["aab"], "a", True),
    ("no stops", [], "no stops", False),
]


def run(pieces, stops):
    m = StopMatcher(stops)
    out = []
    for piece in pieces:
        text, stopped = m.feed(piece)
        out.append(text)
        if stopped:
            return "".join(out), True, out
    out.append(m.finish())
    return "".join(out), False, out


@pytest.mark.parametrize(("text", "stops", "expected", "stopped"), CASES)
def test_stop_matcher_whole_char_and_random_splits(text, stops, expected, stopped):
    rng = random.Random(7)
    cuts = sorted(rng.sample(range(1, len(text)), k=min(3, len(text) - 1)))
    random_pieces = [text[i:j] for i, j in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    for pieces in ([text], list(text), random_pieces):
        got, was_stopped, emitted = run(pieces, stops)
        assert (got, was_stopped) == (expected, stopped), pieces
        for stop in stops:  # nothing emitted ever contains a stop string
            assert all(stop not in e for e in emitted)


def test_utf8_stream_holds_partial_characters():
    data = "a€😀é".encode()
    u = Utf8Stream()
    out = [u.feed(data[i : i + 1]) for i in range(len(data))]
    assert "".join(out) + u.finish() == "a€😀é"
    assert all("\ufffd" not in piece for piece in out)


def test_utf8_stream_replaces_truncated_tail_at_finish():
    u = Utf8Stream()
    assert u.feed(b"ok\xe2\x82") == "ok"
    assert u.finish() == "\ufffd"
