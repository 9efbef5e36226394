"""CanonJson: any JSON object text, fed in any pieces, comes out as the text the parsers
make of it (``json.dumps(json.loads(text), ensure_ascii=False)``), ending at its brace."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from freehold.chat.tools.args_stream import CanonJson

WORDS = ["Paris", 'say "hi"', "back\\slash", "tab\tnew\nline", "é日本😀", "</tool_call>", ""]


def value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(7 if depth < 3 else 4)
    if kind == 0:
        return rng.choice(WORDS)
    if kind == 1:
        return rng.choice([0, -7, 12345678901234567890, 1.5, -0.25, 1e-7, 3e20])
    if kind == 2:
        return rng.choice([True, False])
    if kind == 3:
        return None
    if kind == 4:
        return [value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {f"k{i}": value(rng, depth + 1) for i in range(rng.randrange(4))}


def written(rng: random.Random, obj: dict[str, Any]) -> str:
    """The object as a model might write it: any spacing, any escaping."""
    sep = rng.choice([(",", ":"), (", ", ": "), (" ,\n", " : ")])
    return json.dumps(
        obj, separators=sep, ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 2])
    )


def feed_in_pieces(rng: random.Random, text: str) -> tuple[str, int, CanonJson]:
    canon, out, used, at = CanonJson(), "", 0, 0
    while at < len(text) and not canon.done:
        piece = text[at : at + rng.randrange(1, 6)]
        got, n = canon.feed(piece)
        out, used, at = out + got, used + n, at + len(piece)
    return out, used, canon


@pytest.mark.parametrize("seed", range(40))
def test_any_object_in_any_pieces_comes_out_as_the_final_text(seed) -> None:
    rng = random.Random(seed)
    obj = {f"k{i}": value(rng) for i in range(seed % 5)}
    text = written(rng, obj)
    out, used, canon = feed_in_pieces(rng, text + "}\n</tool_call>")
    assert canon.done and not canon.failed and used == len(text)
    assert out == json.dumps(json.loads(text), ensure_ascii=False)


@pytest.mark.parametrize(
    "text", ['{"a": tru}', '{"a": 1.2.3}', '{"a": "\\x"}', '{"a": [1}', "{]}", '{"a": "x\ny"}']
)
def test_a_token_or_bracket_json_refuses_stops_the_stream(text) -> None:
    out, used, canon = feed_in_pieces(random.Random(0), text)
    assert canon.failed and not canon.done
    with pytest.raises(ValueError):
        json.loads(text)
