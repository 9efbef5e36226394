"""Anthropic Messages in-process over a scripted FakeEngine: bodies and events checked
against the anthropic SDK's own types, errors in Anthropic's shape."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.types import Message, MessageTokensCount, RawMessageStreamEvent
from named_sse import named_events
from pydantic import TypeAdapter
from test_reasoning_routes import thinking_engine
from test_tools_routes import tool_engine

from freehold.engine.fake import FakeEngine

pytestmark = pytest.mark.anyio
MESSAGES = "/v1/messages"
HI = [{"role": "user", "content": "hi"}]
BASE = {"model": "fake-model", "max_tokens": 64, "messages": HI}
EVENT = TypeAdapter(RawMessageStreamEvent)


async def both_ways(client: Any, body: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    whole = await client.post(MESSAGES, json=body)
    assert whole.status_code == 200, whole.text
    streamed = await client.post(MESSAGES, json={**body, "stream": True})
    assert streamed.headers["content-type"].startswith("text/event-stream")
    return whole.json(), named_events(streamed.text)


def accumulate(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The message the events describe, built the way a client builds it."""
    message: dict[str, Any] = {}
    for name, data in events:
        assert name == data["type"], "each event: line names its data's type"
        if name == "ping":
            assert data == {"type": "ping"}
            continue
        EVENT.validate_python(data)
        if name == "message_start":
            message = data["message"]
        elif name == "content_block_start":
            assert data["index"] == len(message["content"])
            message["content"].append(data["content_block"])
        elif name == "content_block_delta":
            block, delta = message["content"][data["index"]], data["delta"]
            key = {"text_delta": "text", "thinking_delta": "thinking"}.get(delta["type"])
            if key:
                block[key] += delta[key]
            elif delta["type"] == "input_json_delta":
                block["partial"] = block.get("partial", "") + delta["partial_json"]
            else:
                assert delta["type"] == "signature_delta"
                block["signature"] = delta["signature"]
        elif name == "content_block_stop":
            block = message["content"][data["index"]]
            if "partial" in block:
                block["input"] = json.loads(block.pop("partial"))
        elif name == "message_delta":
            message.update(data["delta"])
            message["usage"].update(data["usage"])
    assert [name for name, _ in events][-1] == "message_stop"
    return message


async def test_message_matches_sdk_types_and_stream_folds_to_it(fake):
    async with fake() as (client, engine):
        whole, events = await both_ways(client, BASE)
    Message.model_validate(whole)
    assert whole["type"] == "message" and whole["role"] == "assistant"
    assert whole["id"].startswith("msg_") and whole["model"] == "fake-model"
    assert whole["content"] == [{"type": "text", "text": "Hello, world!"}]
    assert whole["stop_reason"] == "end_turn" and whole["stop_sequence"] is None
    assert whole["usage"]["output_tokens"] == 4
    names = [name for name, _ in events]
    assert names[:2] == ["message_start", "ping"] and names[-2:] == [
        "message_delta",
        "message_stop",
    ]
    streamed = accumulate(events)
    assert {k: v for k, v in streamed.items() if k != "id"} == {
        k: v for k, v in whole.items() if k != "id"
    }


async def test_count_tokens_counts_the_prompt_a_request_generates_from(fake):
    history = [*HI, {"role": "assistant", "content": "Hi!"}, {"role": "user", "content": "and?"}]
    body = {**BASE, "system": "Be brief.", "messages": history}
    async with fake() as (client, engine):
        whole = (await client.post(MESSAGES, json=body)).json()
        count = await client.post(
            f"{MESSAGES}/count_tokens", json={k: v for k, v in body.items() if k != "max_tokens"}
        )
    assert count.status_code == 200
    MessageTokensCount.model_validate(count.json())
    # the fake engine counts usage with a word tokenizer of its own; the real tier checks
    # that count_tokens equals usage.input_tokens on a real model
    assert count.json()["input_tokens"] == len(engine.vocab.tokenize(engine.requests[0].prompt))
    assert whole["usage"]["input_tokens"] > 0


async def test_system_history_and_tool_results_reach_the_prompt(fake):
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "weather in Paris?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "old thought", "signature": "x"},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "weather",
                    "input": {"city": "Paris"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny, 21 C"},
                {"type": "text", "text": "and tomorrow?", "cache_control": {"type": "ephemeral"}},
            ],
        },
    ]
    system = [{"type": "text", "text": "You are terse."}]
    async with fake() as (client, engine):
        r = await client.post(MESSAGES, json={**BASE, "system": system, "messages": messages})
    assert r.status_code == 200, r.text
    prompt = engine.requests[0].prompt
    for text in ("You are terse.", "weather in Paris?", "sunny, 21 C", "and tomorrow?"):
        assert text in prompt
    assert "old thought" not in prompt
    assert prompt.index("sunny, 21 C") < prompt.index("and tomorrow?")


async def test_a_last_assistant_turn_is_continued(fake):
    messages = [*HI, {"role": "assistant", "content": "The answer is ("}]
    async with fake() as (client, engine):
        r = await client.post(MESSAGES, json={**BASE, "messages": messages})
    assert r.status_code == 200
    assert engine.requests[0].prompt.endswith("assistant\nThe answer is (")


@pytest.mark.parametrize(
    ("script", "extra", "reason", "sequence"),
    [
        (["Hello", " END", " more"], {"stop_sequences": ["END"]}, "stop_sequence", "END"),
        (["a", "b", "c", "d"], {"max_tokens": 2}, "max_tokens", None),
        (["a", "b"], {"stop_sequences": ["zz"]}, "end_turn", None),
    ],
)
async def test_stop_reasons(fake, script, extra, reason, sequence):
    async with fake(FakeEngine(script=script)) as (client, _):
        whole, events = await both_ways(client, {**BASE, **extra})
    assert whole["stop_reason"] == reason and whole["stop_sequence"] == sequence
    assert accumulate(events)["stop_reason"] == reason


THINK = {"model": "thinker", "max_tokens": 200, "messages": HI}


async def test_thinking_enabled_gives_a_signed_thinking_block_before_the_text(fake):
    body = {**THINK, "thinking": {"type": "enabled", "budget_tokens": 100}}
    async with fake(thinking_engine()) as (client, engine):
        whole, events = await both_ways(client, body)
    Message.model_validate(whole)
    thinking, text = whole["content"]
    assert thinking["type"] == "thinking" and thinking["thinking"] == "Let me add two and two."
    assert len(thinking["signature"]) == 64
    assert text == {"type": "text", "text": "It is 4."}
    assert engine.requests[0].reasoning is not None and engine.requests[0].reasoning.budget == 100
    streamed = accumulate(events)
    assert streamed["content"] == whole["content"]


async def test_thinking_disabled_gives_text_only(fake):
    body = {**THINK, "thinking": {"type": "disabled"}}
    async with fake(thinking_engine(["It is", " 4."])) as (client, engine):
        whole, events = await both_ways(client, body)
    assert whole["content"] == [{"type": "text", "text": "It is 4."}]
    assert not engine.requests[0].reasoning.thinking
    assert accumulate(events)["content"] == whole["content"]


def error_of(r: Any, status: int, kind: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == kind, body
    return str(body["error"]["message"])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages"),
        ({"temperature": 1.5}, "temperature"),
        ({"top_p": -1}, "top_p"),
        ({"top_k": -1}, "top_k"),
        ({"stop_sequences": "END"}, "stop_sequences"),
        ({"system": 3}, "system"),
        ({"metadata": {"user": "x"}}, "metadata"),
        ({"thinking": {"type": "on"}}, "thinking"),
        ({"thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
        ({"thinking": {"type": "enabled", "budget_tokens": 64}}, "thinking.budget_tokens"),
        ({"tool_choice": {"type": "tool", "name": "nope"}}, "tool_choice"),
        ({"tools": [{"name": "bad name!", "input_schema": {}}]}, "tools"),
        ({"frobnicate": 1}, "frobnicate"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/png",
                                    "data": "iVBORw0KGgo=",
                                },
                            }
                        ],
                    }
                ]
            },
            "messages.0.content.0",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
                    }
                ]
            },
            "messages.0.content.0",
        ),
        ({"messages": [{"role": "user", "content": [{"type": "video"}]}]}, "messages"),
    ],
)
async def test_bad_input_is_a_400_in_anthropic_shape(fake, change, field):
    body = {**BASE, **change}
    body = {k: v for k, v in body.items() if v is not None}
    async with fake() as (client, engine):
        r = await client.post(MESSAGES, json=body)
        assert (await client.post(MESSAGES, json=BASE)).status_code == 200  # still serving
    message = error_of(r, 400, "invalid_request_error")
    assert field.split(".")[0] in message or field in message
    assert len(engine.requests) == 1


async def test_image_blocks_to_a_text_only_model_say_it_takes_no_images(fake):
    image = {"type": "image", "source": {"type": "url", "url": "http://127.0.0.1/x.png"}}
    body = {**BASE, "messages": [{"role": "user", "content": [image]}]}
    async with fake() as (client, _):
        r = await client.post(MESSAGES, json=body)
    assert "does not take images" in error_of(r, 400, "invalid_request_error")


async def test_unknown_model_is_a_not_found_error(fake):
    async with fake() as (client, _):
        r = await client.post(MESSAGES, json={**BASE, "model": "claude-opus"})
        c = await client.post(f"{MESSAGES}/count_tokens", json={"model": "x", "messages": HI})
    assert "claude-opus" in error_of(r, 404, "not_found_error")
    error_of(c, 404, "not_found_error")


async def test_api_key_by_x_api_key_or_bearer_and_401_in_anthropic_shape(fake):
    headers = {"anthropic-version": "2023-06-01"}
    async with fake(api_key="sekrit") as (client, _):
        missing = await client.post(MESSAGES, json=BASE, headers=headers)
        wrong = await client.post(MESSAGES, json=BASE, headers={**headers, "x-api-key": "nope"})
        by_header = await client.post(
            MESSAGES, json=BASE, headers={**headers, "x-api-key": "sekrit"}
        )
        bearer = await client.post(MESSAGES, json=BASE, headers={"authorization": "Bearer sekrit"})
        chat = await client.post("/v1/chat/completions", json={"messages": HI})
    error_of(missing, 401, "authentication_error")
    error_of(wrong, 401, "authentication_error")
    assert by_header.status_code == 200 and bearer.status_code == 200
    assert chat.json()["error"]["type"] == "authentication_error"  # OpenAI's shape there


async def test_body_over_the_limit_is_a_413_in_anthropic_shape(fake):
    big = {**BASE, "messages": [{"role": "user", "content": "x" * 5000}]}
    async with fake(max_body_bytes=1024) as (client, _):
        r = await client.post(MESSAGES, json=big)
    error_of(r, 413, "request_too_large")


async def test_context_overflow_is_a_400_and_loading_a_503_overloaded(fake):
    import asyncio

    long = {**BASE, "messages": [{"role": "user", "content": "word " * 400}]}
    async with fake() as (client, _):
        error_of(await client.post(MESSAGES, json=long), 400, "invalid_request_error")
    async with fake(FakeEngine(gate=asyncio.Event())) as (client, _):
        error_of(await client.post(MESSAGES, json=BASE), 503, "overloaded_error")


WEATHER = {
    "name": "get_weather",
    "description": "Current weather of a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


async def test_tool_use_whole_and_streamed(fake):
    body = {**BASE, "model": "tooly", "tools": [WEATHER]}
    async with fake(tool_engine()) as (client, engine):
        whole, events = await both_ways(client, body)
    Message.model_validate(whole)
    assert whole["stop_reason"] == "tool_use"
    text, call = whole["content"]
    assert text == {"type": "text", "text": "Let me look."}
    assert call["type"] == "tool_use" and call["name"] == "get_weather"
    assert call["input"] == {"city": "Paris"} and call["id"]
    streamed = accumulate(events)
    assert streamed["stop_reason"] == "tool_use"
    assert [b["type"] for b in streamed["content"]] == ["text", "tool_use"]
    assert streamed["content"][1]["input"] == {"city": "Paris"}
    request = engine.requests[0]
    assert request.tool_format == "hermes" and request.grammar and request.grammar.lazy
    assert '"name": "get_weather"' in request.prompt  # the template rendered the tools


async def test_tool_choice_and_results_reach_the_engine(fake):
    history = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                 "input": {"city": "Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}],
        },
    ]  # fmt: skip
    tooly = {**BASE, "model": "tooly", "tools": [WEATHER]}
    async with fake(tool_engine(["Sunny."])) as (client, engine):
        r = await client.post(MESSAGES, json={**tooly, "messages": history})
        assert r.status_code == 200, r.text
        none = await client.post(MESSAGES, json={**tooly, "tool_choice": {"type": "none"}})
        assert none.status_code == 200, none.text
        forced = {"type": "tool", "name": "get_weather"}
        f = await client.post(MESSAGES, json={**tooly, "tool_choice": forced})
        assert f.status_code == 200, f.text
    with_result, without, forced_request = engine.requests
    assert "sunny" in with_result.prompt and "get_weather" in with_result.prompt
    assert without.grammar is None  # tool_choice none: free text
    assert forced_request.grammar is not None and not forced_request.grammar.lazy


async def test_output_format_gets_a_grammar(fake):
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    fmt = {"output_config": {"format": {"type": "json_schema", "schema": schema}}}
    async with fake(FakeEngine(script=['{"a": 1}'])) as (client, engine):
        r = await client.post(MESSAGES, json={**BASE, **fmt})
    assert r.status_code == 200, r.text
    assert engine.requests[0].grammar is not None
