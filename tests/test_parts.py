"""Typed parts: the slot's output parser, the fold, and their OpenAI wire shapes."""

from __future__ import annotations

import pytest

from freehold.api.openai_wire import PartShape, chat_response
from freehold.api.translate import ResponseMeta
from freehold.engine.fold import fold_chunks
from freehold.engine.parser import OutputParser
from freehold.engine.types import Chunk, Part, ReasoningPlan, TokenLogprob, ToolCall, Usage

pytestmark = pytest.mark.anyio
THINK = ReasoningPlan("<think>", "</think>", starts_inside=True)


def lp(token: int, text: str) -> TokenLogprob:
    return TokenLogprob(token, text, -0.5, text.encode())


def test_parser_splits_reasoning_and_gives_held_tokens_to_the_next_part() -> None:
    parser = OutputParser(THINK)
    out = []
    for token, text in enumerate(["hm", "</", "think>", "\n\nHi", "!"]):
        out += parser.feed(text, token, lp(token, text))
    out += parser.finish()
    assert [(p.kind, p.text) for p in out] == [
        ("reasoning", "hm"),
        ("content", "Hi"),
        ("content", "!"),
    ]
    assert [p.tokens for p in out] == [(0,), (1, 2, 3), (4,)]
    assert [len(p.logprobs) for p in out] == [1, 3, 1]


def test_parser_without_reasoning_passes_text_through() -> None:
    parser = OutputParser(None)
    assert parser.feed("<think>a", 7) == [Part("content", "<think>a", tokens=(7,))]
    assert not parser.inside and parser.finish() == []


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("reasoning_content", {"content": "Hi.", "reasoning_content": "hmm"}),
        ("reasoning", {"content": "Hi.", "reasoning": "hmm"}),
        ("both", {"content": "Hi.", "reasoning_content": "hmm", "reasoning": "hmm"}),
        ("hidden", {"content": "Hi."}),
        ("inline", {"content": "<think>hmm</think>Hi."}),
    ],
)
async def test_shapes_stream_and_fold_alike(output, expected) -> None:
    chunks = [
        Chunk([Part("reasoning", "hm"), Part("reasoning", "m")]),
        Chunk([Part("content", "Hi.")], "stop", Usage(3, 4)),
    ]
    shape = PartShape(output, "<think>", "</think>")  # type: ignore[arg-type]
    streamed: dict[str, str] = {}
    for chunk in chunks:
        for part in chunk.parts:
            for key, text in shape.delta(0, part).items():
                streamed[key] = streamed.get(key, "") + text
    assert {k: v for k, v in streamed.items() if v} == expected

    async def gen():
        for c in chunks:
            yield c

    folded = await fold_chunks(gen())
    message = chat_response(ResponseMeta("m", chat=True), folded, shape)["choices"][0]["message"]
    assert {k: v for k, v in message.items() if k not in ("role", "refusal")} == expected


async def test_fold_keeps_choices_apart_and_tool_calls_make_content_null() -> None:
    call = ToolCall(0, "call_1", "f", '{"a": 1}')
    chunks = [
        Chunk([Part("content", "x")], index=1),
        Chunk([Part("tool_call", call=call)], "tool_calls", index=0),
        Chunk([], "stop", Usage(5, 2), index=1),
    ]

    async def gen():
        for c in chunks:
            yield c

    folded = await fold_chunks(gen())
    body = chat_response(ResponseMeta("m", chat=True, n=2), folded, PartShape())
    first, second = body["choices"]
    assert first["message"]["content"] is None and first["finish_reason"] == "tool_calls"
    assert first["message"]["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    ]
    assert second["message"]["content"] == "x" and second["index"] == 1
    assert body["usage"]["total_tokens"] == 7
