"""Tool calls stream as SmolLM2 writes them (Hermes/Qwen-style template), on the wire of
all three dialects: the name first, then several argument fragments that add up to the
non-streamed call's arguments (greedy decoding: the same output both ways)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import pytest
from named_sse import named_events
from test_api_fast import sse_events
from test_real_tools import ASK, WEATHER, WEATHER_PARAMS, server  # noqa: F401

pytestmark = pytest.mark.real
FORCED = {"type": "function", "function": {"name": "get_weather"}}
GREEDY = {"temperature": 0, "max_tokens": 80}


def post(server: Any, path: str, body: dict[str, Any]) -> httpx.Response:  # noqa: F811
    r = httpx.post(f"{server.base_url}{path}", json=body, timeout=300)
    assert r.status_code == 200, r.text
    return r


def test_chat_call_streams_in_fragments(server):  # noqa: F811
    body = {
        "model": "tooly",
        "messages": ASK,
        "tools": [WEATHER],
        "tool_choice": FORCED,
        "parallel_tool_calls": False,
        **GREEDY,
    }
    (call,) = post(server, "/v1/chat/completions", body).json()["choices"][0]["message"][
        "tool_calls"
    ]
    events = sse_events(post(server, "/v1/chat/completions", {**body, "stream": True}).text)
    deltas = [d for e in events for c in e["choices"] for d in c["delta"].get("tool_calls") or []]
    first, *rest = deltas
    assert first["function"] == {"name": "get_weather", "arguments": ""} and first["id"]
    assert len(rest) >= 3 and all(set(d) == {"index", "function"} for d in rest)
    arguments = "".join(d["function"]["arguments"] for d in rest)
    assert arguments == call["function"]["arguments"]
    jsonschema.validate(json.loads(arguments), WEATHER_PARAMS)


def test_responses_and_messages_calls_stream_in_fragments(server):  # noqa: F811
    tool = {"type": "function", "name": "get_weather", "parameters": WEATHER_PARAMS}
    body = {"model": "tooly", "input": ASK[0]["content"], "tools": [tool], **GREEDY}
    body = {
        **body,
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "max_output_tokens": 80,
        "stream": True,
    }
    body.pop("max_tokens")
    events = named_events(post(server, "/v1/responses", body).text)
    deltas = [d["delta"] for n, d in events if n == "response.function_call_arguments.delta"]
    (done,) = [d for n, d in events if n == "response.function_call_arguments.done"]
    assert len(deltas) >= 3 and "".join(deltas) == done["arguments"]
    jsonschema.validate(json.loads(done["arguments"]), WEATHER_PARAMS)
    tool = {"name": "get_weather", "input_schema": WEATHER_PARAMS}
    body = {
        "model": "tooly",
        "messages": ASK,
        "tools": [tool],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
    }
    events = named_events(post(server, "/v1/messages", {**body, **GREEDY, "stream": True}).text)
    parts = [
        d["delta"]["partial_json"]
        for n, d in events
        if d.get("delta", {}).get("type") == "input_json_delta"
    ]
    assert len(parts) >= 3
    jsonschema.validate(json.loads("".join(parts)), WEATHER_PARAMS)
