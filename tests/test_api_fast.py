"""The API in-process against a scripted FakeEngine: shapes, streaming, holdback, errors."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from openapi import validate

from freehold.engine.fake import FakeEngine

pytestmark = pytest.mark.anyio
CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


def named(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name}}


def json_schema_format(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}


def sse_events(text: str) -> list[Any]:
    lines = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
    assert lines[-1] == "[DONE]", "a stream ends with data: [DONE]"
    return [json.loads(line) for line in lines[:-1]]


def streamed_content(events: list[dict[str, Any]], key: str = "content") -> str:
    return "".join(c["delta"].get(key) or "" for e in events for c in e["choices"])


async def test_chat_completion_matches_openai_schema(fake):
    async with fake() as (client, _):
        r = await client.post(CHAT, json={"model": "fake-model", "messages": HI})
    assert r.status_code == 200
    body = r.json()
    validate("CreateChatCompletionResponse", body)
    choice = body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "Hello, world!", "refusal": None}
    assert choice["finish_reason"] == "stop" and choice["logprobs"] is None
    assert body["usage"]["completion_tokens"] == 4
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + 4


async def test_stream_chunks_match_schema_and_share_id(fake):
    body = {"messages": HI, "stream": True, "stream_options": {"include_usage": True}}
    async with fake() as (client, _):
        r = await client.post(CHAT, json=body)
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    for event in events:
        validate("CreateChatCompletionStreamResponse", event)
    assert len({e["id"] for e in events}) == 1 and len({e["created"] for e in events}) == 1
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] == 4
    assert all("usage" not in e for e in events[:-1])
    assert streamed_content(events) == "Hello, world!"


async def test_stream_without_usage_option_has_no_usage_field(fake):
    async with fake() as (client, _):
        r = await client.post(CHAT, json={"messages": HI, "stream": True})
    events = sse_events(r.text)
    assert all("usage" not in e for e in events)
    assert events[-1]["choices"][0]["finish_reason"] == "stop"


SCRIPTS = [
    ["Hel", "lo E", "ND more"],
    ["a", "b", "c", "d", "e", "f"],
    ["x" * 10, "ENDING", "z"],
    [b"caf\xc3", b"\xa9 \xe2\x82", b"\xac!"],
]


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("stop", [None, ["END"], ["c", "zz"]])
async def test_stream_equals_non_stream(fake, script, stop):
    body = {"messages": HI, "stop": stop}
    async with fake(FakeEngine(script=script)) as (client, _):
        whole = (await client.post(CHAT, json=body)).json()
        events = sse_events((await client.post(CHAT, json={**body, "stream": True})).text)
    assert streamed_content(events) == whole["choices"][0]["message"]["content"]
    assert events[-1]["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]


async def test_stop_string_split_across_chunks_never_leaks(fake):
    async with fake(FakeEngine(script=["Hel", "lo E", "N", "D more"])) as (client, _):
        r = await client.post(CHAT, json={"messages": HI, "stop": "END", "stream": True})
    events = sse_events(r.text)
    deltas = [c["delta"].get("content") for e in events for c in e["choices"]]
    assert streamed_content(events) == "Hello "
    assert not any(d and "E" in d for d in deltas), deltas
    assert events[-1]["choices"][0]["finish_reason"] == "stop"


async def test_partial_stop_prefix_is_released_when_not_a_stop(fake):
    async with fake(FakeEngine(script=["ab E", "Nd", " ok"])) as (client, _):
        r = await client.post(CHAT, json={"messages": HI, "stop": ["END"]})
    assert r.json()["choices"][0]["message"]["content"] == "ab ENd ok"


async def test_utf8_split_across_tokens_is_never_broken(fake):
    script = [b"caf\xc3", b"\xa9 \xe2", b"\x82", b"\xac", b" \xf0\x9f\x98", b"\x80"]
    async with fake(FakeEngine(script=script)) as (client, _):
        r = await client.post(CHAT, json={"messages": HI, "stream": True})
    events = sse_events(r.text)
    deltas = [c["delta"].get("content") or "" for e in events for c in e["choices"]]
    assert "".join(deltas) == "café € 😀"
    assert not any("\ufffd" in d for d in deltas)


async def test_max_tokens_ends_with_length(fake):
    async with fake() as (client, _):
        r = await client.post(CHAT, json={"messages": HI, "max_completion_tokens": 2})
    body = r.json()
    assert body["choices"][0]["message"]["content"] == "Hello,"
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 2


async def test_content_as_text_parts_is_accepted_like_a_string(fake):
    parts = [{"type": "text", "text": "hi"}, {"type": "text", "text": "there"}]
    async with fake() as (client, engine):
        r = await client.post(CHAT, json={"messages": [{"role": "user", "content": parts}]})
        r2 = await client.post(CHAT, json={"messages": [{"role": "user", "content": "hi\nthere"}]})
    assert r.status_code == r2.status_code == 200
    assert engine.requests[0].prompt == engine.requests[1].prompt
    assert "hi\nthere" in engine.requests[0].prompt


async def test_sampling_parameters_reach_the_engine(fake):
    body = {
        "messages": HI,
        "temperature": 0.3,
        "top_p": 0.5,
        "top_k": 7,
        "min_p": 0.1,
        "seed": 42,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "repeat_penalty": 1.2,
        "logit_bias": {"15": -100},
        "max_tokens": 9,
        "stop": "x",
    }
    async with fake() as (client, engine):
        assert (await client.post(CHAT, json=body)).status_code == 200
    req = engine.requests[0]
    s = req.sampling
    assert (s.temperature, s.top_p, s.top_k, s.min_p, s.seed) == (0.3, 0.5, 7, 0.1, 42)
    assert (s.presence_penalty, s.frequency_penalty, s.repeat_penalty) == (0.5, -0.5, 1.2)
    assert s.logit_bias == {15: -100} and req.max_tokens == 9 and req.stop == ("x",)


async def test_completions_plain_and_streamed(fake):
    async with fake() as (client, _):
        whole = (await client.post("/v1/completions", json={"prompt": "Say"})).json()
        r = await client.post("/v1/completions", json={"prompt": ["Say"], "stream": True})
    validate("CreateCompletionResponse", whole)
    assert whole["choices"][0]["text"] == "Hello, world!"
    events = sse_events(r.text)
    for event in events[:-1]:
        # The spec models only the final object; mid-stream OpenAI (and freehold) send null.
        assert event["choices"][0]["finish_reason"] is None
        final_like = {**event, "choices": [{**event["choices"][0], "finish_reason": "stop"}]}
        validate("CreateCompletionResponse", final_like)
    validate("CreateCompletionResponse", events[-1])
    assert "".join(e["choices"][0]["text"] for e in events) == "Hello, world!"


async def test_models_list_and_get(fake):
    async with fake() as (client, _):
        listing = (await client.get("/v1/models")).json()
        one = await client.get("/v1/models/fake-alias")
        missing = await client.get("/v1/models/other")
    validate("ListModelsResponse", listing)
    validate("Model", one.json())
    card = listing["data"][0]
    assert card["id"] == "fake-model" and card["meta"]["context_length"] == 2048
    assert card["meta"]["architecture"] == "fake" and card["meta"]["quantization"] == "F16"
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


async def test_health_is_503_while_loading_then_200(fake):
    gate = asyncio.Event()
    async with fake(FakeEngine(gate=gate)) as (client, engine):
        loading = await client.get("/health")
        refused = await client.post(CHAT, json={"messages": HI})
        models_loading = await client.get("/v1/models")
        gate.set()
        for _ in range(100):
            if engine.ready:
                break
            await asyncio.sleep(0)
        ready = await client.get("/health")
    assert loading.status_code == 503 and loading.json()["status"] == "loading"
    assert refused.status_code == 503 and refused.headers["retry-after"]
    assert models_loading.status_code == 503
    validate("ErrorResponse", refused.json())
    assert ready.status_code == 200 and ready.json()["model"]["id"] == "fake-model"


def _assert_error(
    r: httpx.Response, status: int, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    validate("ErrorResponse", body)
    if param is not None:
        assert body["error"]["param"] == param
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


@pytest.mark.parametrize(
    ("body", "status", "param", "code"),
    [
        ({"model": "gpt-4o", "messages": HI}, 404, "model", "model_not_found"),
        ({"messages": HI, "temperature": 3}, 400, "temperature", "invalid_value"),
        ({"messages": []}, 400, "messages", "invalid_value"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, 400, "messages.0.role", None),
        (  # a union (string or parts): the error names the part, not "should be a string"
            {"messages": [{"role": "user", "content": [{"type": "text", "text": 3}]}]},
            400,
            "messages.0.content.0.text",
            "invalid_value",
        ),
        ({"messages": HI, "n": 2}, 400, "n", None),  # one slot
        ({"messages": HI, "n": 0}, 400, "n", "invalid_value"),
        ({"messages": HI, "logprobs": True, "top_logprobs": 21}, 400, "top_logprobs", None),
        ({"messages": HI, "top_logprobs": 2}, 400, "top_logprobs", None),
        ({"messages": HI, "tools": [{"type": "function"}]}, 400, "tools[0].function.name", None),
        ({"messages": HI, "tools": [{"type": "retrieval"}]}, 400, "tools[0].type", None),
        ({"messages": HI, "tools": [TOOL], "tool_choice": "sometimes"}, 400, "tool_choice", None),
        (
            {"messages": HI, "tools": [TOOL], "tool_choice": named("nope")},
            400,
            "tool_choice",
            None,
        ),
        ({"messages": HI, "tool_choice": "required"}, 400, "tool_choice", None),
        ({"messages": HI, "response_format": {"type": "yaml"}}, 400, "response_format.type", None),
        (
            {"messages": HI, "response_format": {"type": "json_schema"}},
            400,
            "response_format.json_schema",
            None,
        ),
        (
            {
                "messages": HI,
                "response_format": json_schema_format({"type": "integer", "multipleOf": 3}),
            },
            400,
            "response_format.json_schema.schema",
            None,
        ),
        (
            {"messages": HI, "grammar": "root ::= x", "response_format": {"type": "json_object"}},
            400,
            "grammar",
            None,
        ),
        (
            {"messages": HI, "functions": [TOOL["function"]]},
            400,
            "functions",
            "unsupported_parameter",
        ),
        ({"messages": HI, "mirostat": 2}, 400, "mirostat", "unsupported_parameter"),
        ({"messages": HI, "logit_bias": {"abc": 1}}, 400, "logit_bias", None),
        ({"messages": HI, "stop": ["a"] * 17}, 400, "stop", None),
        (
            {"messages": [{"role": "user", "content": "word " * 300}]},
            400,
            "messages",
            "context_length_exceeded",
        ),
    ],
)
async def test_client_mistakes_get_openai_errors_and_server_keeps_serving(
    fake, body, status, param, code
):
    async with fake() as (client, _):
        _assert_error(await client.post(CHAT, json=body), status, param, code)
        assert (await client.post(CHAT, json={"messages": HI})).status_code == 200


async def test_defaults_of_unsupported_parameters_are_accepted(fake):
    body = {
        "messages": HI,
        "n": 1,
        "logprobs": False,
        "tools": [],
        "tool_choice": "none",
        "response_format": {"type": "text"},
        "user": "u1",
        "store": False,
    }
    async with fake() as (client, _):
        assert (await client.post(CHAT, json=body)).status_code == 200


async def test_context_overflow_message_states_sizes(fake):
    async with fake() as (client, _):
        r = await client.post(CHAT, json={"messages": [{"role": "user", "content": "w " * 400}]})
    message = _assert_error(r, 400, code="context_length_exceeded")["message"]
    assert "prompt tokens" in message and "256" in message


async def test_malformed_json_and_unknown_path(fake):
    headers = {"content-type": "application/json"}
    async with fake() as (client, _):
        bad = await client.post(CHAT, content=b"{not json", headers=headers)
        not_json = await client.post(CHAT, content=b"hello")
        missing = await client.get("/v1/audio/speech")
        wrong_method = await client.get(CHAT)
    _assert_error(bad, 400, code="invalid_json")
    _assert_error(not_json, 400, code="invalid_json")
    assert "/v1/audio/speech" in _assert_error(missing, 404, code="not_found")["message"]
    _assert_error(wrong_method, 405)


async def test_api_keys(fake, tmp_path):
    key_file = tmp_path / "keys"
    key_file.write_text("# team\nfile-key\n")
    async with fake(api_key=["k1"], api_key_file=key_file) as (client, _):
        none = await client.post(CHAT, json={"messages": HI})
        wrong = await client.get("/v1/models", headers={"authorization": "Bearer nope"})
        good = await client.get("/v1/models", headers={"authorization": "Bearer k1"})
        from_file = await client.get("/v1/models", headers={"x-api-key": "file-key"})
        health = await client.get("/health")
    _assert_error(none, 401, code="invalid_api_key")
    _assert_error(wrong, 401, code="invalid_api_key")
    assert good.status_code == from_file.status_code == health.status_code == 200


async def test_oversized_body_gets_413(fake):
    async with fake(max_body_bytes=2048) as (client, _):
        r = await client.post(CHAT, json={"messages": [{"role": "user", "content": "x" * 4096}]})
        ok = await client.post(CHAT, json={"messages": HI})
    _assert_error(r, 413, code="request_too_large")
    assert ok.status_code == 200


async def test_metrics_count_requests_and_tokens(fake):
    async with fake() as (client, _):
        await client.post(CHAT, json={"messages": HI})
        await client.post(CHAT, json={"messages": HI, "stream": True, "max_tokens": 2})
        text = (await client.get("/metrics")).text
    assert 'freehold_requests_total{endpoint="chat",finish="stop"} 1.0' in text
    assert 'freehold_requests_total{endpoint="chat",finish="length"} 1.0' in text
    assert "freehold_completion_tokens_total 6.0" in text
    assert "freehold_time_to_first_token_seconds_count 2.0" in text
    assert "freehold_slots 1.0" in text
