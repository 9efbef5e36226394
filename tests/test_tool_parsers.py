"""Tool-call parsers per template family, on recorded model output shapes, fed whole,
character by character and at random split points (markers split across chunks)."""

from __future__ import annotations

import random

import pytest

from freehold.chat.tools.formats import FORMATS, detect_tool_format
from freehold.chat.tools.parsers import ArgsText, Call, CallEnd, CallStart, Piece
from freehold.engine.parser import OutputParser
from freehold.engine.types import ReasoningPlan

PARIS = Call("get_weather", '{"city": "Paris"}')
ROME = Call("get_weather", '{"city": "Rome"}')
DS = "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>"
DS_END = "<｜tool▁call▁end｜><｜tool▁calls▁end｜>"

CASES = [
    (
        "hermes",
        'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n'
        "</tool_call>",
        ["Let me check.", PARIS],
    ),
    (
        "hermes",
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call>',
        [PARIS, ROME],
    ),
    ("hermes", "<tool_call>\n{not json}\n</tool_call>", ["<tool_call>\n{not json}\n</tool_call>"]),
    (
        "hermes",
        '<tool_call>\n{"name": "get_weather", "argu',
        ['<tool_call>\n{"name": "get_weather", "argu'],
    ),
    ("hermes", "a <tool_ca b", ["a <tool_ca b"]),
    (
        "llama3",
        '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}',
        [PARIS],
    ),
    ("llama3", '{"name": "get_weather", "parameters": {"city": "Paris"}}', [PARIS]),
    (
        "mistral",
        '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}, '
        '{"name": "get_weather", "arguments": {"city": "Rome"}}]',
        [PARIS, ROME],
    ),
    ("mistral", '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}', [PARIS]),
    (
        "harmony",
        "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
        '<|message|>{"city": "Paris"}<|call|>',
        [PARIS],
    ),
    (
        "deepseek",
        f'{DS}function<｜tool▁sep｜>get_weather\n```json\n{{"city": "Paris"}}\n```{DS_END}',
        [PARIS],
    ),
    ("deepseek", f'{DS}get_weather<｜tool▁sep｜>{{"city": "Paris"}}{DS_END}', [PARIS]),
    ("functionary_v3_2", '>>>get_weather\n{"city": "Paris"}', [PARIS]),
    ("functionary_v3_2", '>>>all\nSure.>>>get_weather\n{"city": "Paris"}', ["Sure.", PARIS]),
    ("functionary_v3_1", '<function=get_weather>{"city": "Paris"}</function>', [PARIS]),
    (
        "generic",
        '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}',
        [PARIS],
    ),
    ("generic", '{"response": "It is sunny."}', ["It is sunny."]),
    ("generic", "plain words", ["plain words"]),
]


def chars(text: str) -> list[str]:
    return list(text)


def random_splits(text: str) -> list[str]:
    rng = random.Random(len(text))
    cuts = sorted(rng.sample(range(1, len(text)), min(6, len(text) - 1)))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


def whole_calls(out: list[Piece]) -> list[str | Call]:
    """Streamed calls folded into whole ones (a confirmed call's fragments must add up to
    its final arguments; a dropped one leaves nothing), text pieces merged."""
    started: list[Call] = []
    merged: list[str | Call] = []
    for p in out:
        if isinstance(p, CallStart):
            started.append(Call(p.name, ""))
        elif isinstance(p, ArgsText):
            started[-1] = Call(started[-1].name, started[-1].arguments + p.text)
        elif isinstance(p, CallEnd):
            call = started.pop(0)
            if p.arguments is not None:
                assert call.arguments == p.arguments
                merged.append(call)
        elif merged and isinstance(p, str) and isinstance(merged[-1], str):
            merged[-1] += p
        else:
            merged.append(p)
    assert not started
    return merged


def parse(family: str, pieces: list[str]) -> list[str | Call]:
    parser = FORMATS[family].parser()
    return whole_calls([p for piece in pieces for p in parser.feed(piece)] + parser.finish())


@pytest.mark.parametrize(
    "feed", [lambda t: [t], chars, random_splits], ids=["whole", "chars", "random"]
)
@pytest.mark.parametrize(("family", "text", "expected"), CASES)
def test_family_parsers(family, text, expected, feed) -> None:
    got = [
        Call(p.name, p.arguments.replace(" ", "")) if isinstance(p, Call) else p
        for p in parse(family, feed(text))
    ]
    want = [
        Call(c.name, c.arguments.replace(" ", "")) if isinstance(c, Call) else c for c in expected
    ]
    assert got == want


@pytest.mark.parametrize(
    ("template", "family"),
    [
        ("{{ '<tool_call>' }}{% if tools %}{% endif %}", "hermes"),
        ("<|start_header_id|>ipython<|end_header_id|>{{ '<|python_tag|>' }}", "llama3"),
        ("[AVAILABLE_TOOLS]{{ '[TOOL_CALLS]' }}", "mistral"),
        ("<|start|>{{ '<|channel|>' }}", "harmony"),
        ("{{ '<｜tool▁calls▁begin｜>' }}", "deepseek"),
        ("{{ '>>>all' }}", "functionary_v3_2"),
        ("<|start_header_id|>{{ '<function=' }}", "functionary_v3_1"),
        ("{% for m in messages %}{{ m.content }}{% endfor %}", "generic"),
        (None, "generic"),
    ],
)
def test_family_is_detected_from_the_template(template, family) -> None:
    assert detect_tool_format(template).name == family


def test_a_call_inside_thinking_is_reasoning_not_a_call() -> None:
    plan = ReasoningPlan("<think>", "</think>", starts_inside=True)
    parser = OutputParser(plan, FORMATS["hermes"].parser(), new_id=lambda: "call_x")
    text = (
        "I could use <tool_call>get_weather</tool_call> here.</think>\n\n<tool_call>\n"
        '{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    )
    parts = [p for ch in text for p in parser.feed(ch)] + parser.finish()
    reasoning = "".join(p.text for p in parts if p.kind == "reasoning")
    calls = [p.call for p in parts if p.kind == "tool_call_start"]
    assert "<tool_call>get_weather</tool_call>" in reasoning
    assert [(c.index, c.id, c.name) for c in calls if c] == [(0, "call_x", "get_weather")]
    assert not [p for p in parts if p.kind == "content"]


def pieces_by_char(family: str, text: str) -> list[tuple[int, Piece]]:
    """Each piece with the number of characters fed when it came out."""
    parser = FORMATS[family].parser()
    out = [(i + 1, p) for i, ch in enumerate(text) for p in parser.feed(ch)]
    return out + [(len(text), p) for p in parser.finish()]


@pytest.mark.parametrize(
    ("family", "text"),
    [
        ("hermes", '<tool_call>\n{"name": "f", "arguments": {"a": [1, {"b": "x"}]}}\n</tool_call>'),
        ("llama3", '<|python_tag|>{"name": "f", "parameters": {"a": [1, {"b": "x"}]}}'),
        ("mistral", '[TOOL_CALLS]f[ARGS]{"a": [1, {"b": "x"}]}'),
        (
            "harmony",
            "<|channel|>commentary to=functions.f <|constrain|>json<|message|>"
            '{"a": [1, {"b": "x"}]}<|call|>',
        ),
        (
            "deepseek",
            f'{DS}function<｜tool▁sep｜>f\n```json\n{{"a": [1, {{"b": "x"}}]}}\n```{DS_END}',
        ),
        ("deepseek", f'{DS}f<｜tool▁sep｜>{{"a": [1, {{"b": "x"}}]}}{DS_END}'),
        ("functionary_v3_1", '<function=f>{"a": [1, {"b": "x"}]}</function>'),
        ("llama3", '{"name": "f", "parameters": {"a": [1, {"b": "x"}]}}'),
        ("mistral", '[TOOL_CALLS][{"name": "f", "arguments": {"a": [1, {"b": "x"}]}}]'),
        ("generic", '{"tool_call": {"name": "f", "arguments": {"a": [1, {"b": "x"}]}}}'),
    ],
)
def test_arguments_stream_as_written_and_stop_at_their_own_brace(family, text) -> None:
    got = pieces_by_char(family, text)
    kinds = [type(p).__name__ for _, p in got]
    assert kinds[0] == "CallStart" and kinds[-1] == "CallEnd" and set(kinds[1:-1]) == {"ArgsText"}
    args = '{"a": [1, {"b": "x"}]}'
    begin, end = text.index(args) + 1, text.index(args) + len(args)
    fragments = [(n, p.text) for n, p in got if isinstance(p, ArgsText)]
    assert got[0][0] == begin  # announced as the arguments' brace arrives
    assert len(fragments) > 10 and fragments[-1] == (end, "}")  # their own brace, at once
    assert "".join(f for _, f in fragments) == args
    assert got[-1][1] == CallEnd(args)


@pytest.mark.parametrize(
    ("written", "final"),
    [
        (
            '{"a":1.50,"b":"\\u00e9\\ud83d\\ude00\\/","c":[ ],"d":true}',
            '{"a": 1.5, "b": "é😀/", "c": [], "d": true}',
        ),
        ('{"html": "</b> </tool_"}', '{"html": "</b> </tool_"}'),
    ],
)
def test_fragments_are_the_final_json_text_and_hold_back_the_closing_marker(written, final):
    text = f'<tool_call>{{"name": "f", "arguments": {written}}}</tool_call>'
    got = pieces_by_char("hermes", text)
    fragments = [p.text for _, p in got if isinstance(p, ArgsText)]
    assert "".join(fragments) == final and got[-1][1] == CallEnd(final)
    if "<" in final:  # held while it could start "</tool_call>", sent once it cannot
        assert "</b" in fragments and '</tool_"' in fragments


@pytest.mark.parametrize(
    ("text", "after"),
    [
        (
            '<tool_call>{"name": "f", "arguments": {"a": 1, "a": 2}}</tool_call>',
            [Call("f", '{"a": 2}')],
        ),
        (
            '<tool_call>{"name": "f", "arguments": {"a": 1}',
            ['<tool_call>{"name": "f", "arguments": {"a": 1}'],
        ),
    ],
    ids=["duplicate-keys", "cut-short"],
)
def test_an_announced_call_that_does_not_parse_as_streamed_is_dropped(text, after) -> None:
    got = [p for _, p in pieces_by_char("hermes", text)]
    assert got[0] == CallStart("f") and CallEnd(None) in got
    rest = got[got.index(CallEnd(None)) + 1 :]
    assert whole_calls(rest) == after


@pytest.mark.parametrize(
    "text", ['>>>get_weather\n{"city": "Paris"}', '>>>all\nSure.>>>get_weather\n{"city": "Paris"}']
)
def test_functionary_v3_2_sends_calls_whole(text) -> None:
    got = [p for _, p in pieces_by_char("functionary_v3_2", text)]
    assert not [p for p in got if isinstance(p, CallStart | ArgsText | CallEnd)]
    assert [p for p in got if isinstance(p, Call)] == [PARIS]
