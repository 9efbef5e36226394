"""Anthropic Messages on the real engine through the official anthropic SDK."""

from __future__ import annotations

import anthropic
import pytest
from anthropic.types import Message

pytestmark = pytest.mark.real
ASK = [{"role": "user", "content": "What is the capital of France?"}]
OFF = {"type": "disabled"}
# This SDK no longer takes sampling arguments; older clients send them in the body.
GREEDY = {"extra_body": {"temperature": 0}}


@pytest.fixture(scope="module")
def claude(thinker):
    return anthropic.Anthropic(base_url=thinker.base_url, api_key="x", max_retries=0)


def text_of(message: Message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def test_create_answers_in_text_and_counts_tokens_as_usage_does(claude):
    args = dict(model="thinker", messages=ASK, system="Answer in one word.", thinking=OFF)
    r = claude.messages.create(max_tokens=24, **GREEDY, **args)
    assert isinstance(r, Message) and r.type == "message" and r.role == "assistant"
    assert [b.type for b in r.content] == ["text"] and text_of(r).strip()
    assert r.stop_reason in ("end_turn", "max_tokens") and r.usage.output_tokens > 0
    assert "<think>" not in text_of(r) and "</think>" not in text_of(r)
    count = claude.messages.count_tokens(**args)
    assert count.input_tokens == r.usage.input_tokens > 5


def test_stream_helper_gives_the_same_message_as_create(claude):
    args = dict(model="thinker", messages=ASK, max_tokens=12, **GREEDY, thinking=OFF)
    whole = claude.messages.create(**args)
    kinds = []
    with claude.messages.stream(**args) as stream:
        for event in stream:
            kinds.append(event.type)
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_delta" in kinds and "message_delta" in kinds
    assert text_of(final) == text_of(whole) and final.stop_reason == whole.stop_reason
    assert final.usage.output_tokens == whole.usage.output_tokens
    assert final.usage.input_tokens == whole.usage.input_tokens


def test_thinking_enabled_streams_a_signed_thinking_block_first(claude):
    args = dict(
        model="thinker",
        messages=ASK,
        max_tokens=24,
        **GREEDY,
        thinking={"type": "enabled", "budget_tokens": 8},
    )
    with claude.messages.stream(**args) as stream:
        deltas = [e.delta.type for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert final.content[0].type == "thinking" and final.content[0].thinking.strip()
    assert len(final.content[0].signature) == 64
    assert "thinking_delta" in deltas and "signature_delta" in deltas
    if final.stop_reason != "max_tokens":
        assert final.content[-1].type == "text"
    whole = claude.messages.create(**args)
    assert whole.content[0].thinking == final.content[0].thinking


def test_stop_sequence_and_max_tokens_stop_reasons(claude):
    args = dict(model="thinker", messages=ASK, **GREEDY, thinking=OFF)
    free = claude.messages.create(max_tokens=12, **args)
    words = text_of(free).split()
    assert len(words) >= 2, text_of(free)
    stop = words[1]
    stopped = claude.messages.create(max_tokens=12, stop_sequences=[stop], **args)
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == stop
    assert stop not in text_of(stopped) and text_of(free).startswith(text_of(stopped))
    short = claude.messages.create(max_tokens=2, **args)
    assert short.stop_reason == "max_tokens" and short.usage.output_tokens == 2


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"model": "claude-opus-4"}, anthropic.NotFoundError),
        ({"extra_body": {"temperature": 1.5}}, anthropic.BadRequestError),
        ({"max_tokens": 0}, anthropic.BadRequestError),
        ({"thinking": {"type": "enabled", "budget_tokens": 500}}, anthropic.BadRequestError),
        ({"stop_sequences": ["x"] * 17}, anthropic.BadRequestError),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {"type": "url", "url": "http://127.0.0.1/a.png"},
                            }
                        ],
                    }
                ]
            },
            anthropic.BadRequestError,
        ),
    ],
)
def test_bad_input_raises_the_sdk_exception(claude, change, error):
    args = {"model": "thinker", "messages": ASK, "max_tokens": 8, **change}
    with pytest.raises(error) as caught:
        claude.messages.create(**args)
    assert caught.value.body["type"] == "error"
    still = claude.messages.create(model="thinker", messages=ASK, max_tokens=2)
    assert still.stop_reason == "max_tokens"  # the server goes on serving
