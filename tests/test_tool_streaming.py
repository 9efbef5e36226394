"""Tool calls streamed as generated, in all three dialects over the FakeEngine (one script
piece = one token): the call's id and name first, then its arguments in fragments that
add up to the non-streamed body's arguments, never holding any of the envelope."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import test_anthropic_fast as anthropic_api
import test_responses_fast as responses_api
from openapi import validate
from test_tools_routes import ASK, WEATHER, both, tool_engine

from freehold.engine.fake import FakeEngine
from freehold.engine.types import ModelInfo

pytestmark = pytest.mark.anyio
HERMES = [
    "Let me look.",
    "\n<tool_call>\n",
    '{"name": "get_weather", ',
    '"arguments": {',
    '"city": "Pa',
    'ris", ',
    '"days":3',
    "}}\n</tool",
    "_call>",
]
HERMES_FRAGMENTS = ["{", '"city": "Pa', 'ris", ', '"days": ', "3}"]
GENERIC = [
    '{"tool_calls": [{"name": "get_weather", ',
    '"arguments": {"city":',
    ' "Paris"}}',
    "]}",
]
GENERIC_FRAGMENTS = ['{"city": ', '"Paris"}']
CASES = [
    pytest.param(lambda: tool_engine(HERMES), HERMES_FRAGMENTS, "Let me look.", id="hermes"),
    pytest.param(
        lambda: FakeEngine(script=GENERIC, info=ModelInfo(id="tooly", n_ctx_slot=1024)),
        GENERIC_FRAGMENTS,
        "",
        id="generic",
    ),
]


@pytest.mark.parametrize(("engine", "fragments", "text"), CASES)
async def test_chat_streams_name_then_argument_fragments(fake, engine, fragments, text):
    async with fake(engine()) as (client, _):
        whole, events = await both(client, {"messages": ASK, "tools": [WEATHER]})
    (call,) = whole["choices"][0]["message"]["tool_calls"]
    assert call["function"]["arguments"] == "".join(fragments)
    assert (whole["choices"][0]["message"]["content"] or "") == text
    for event in events:
        validate("CreateChatCompletionStreamResponse", event)
    deltas = [
        d["tool_calls"] for e in events for c in e["choices"] if "tool_calls" in (d := c["delta"])
    ]
    assert all(len(d) == 1 and d[0]["index"] == 0 for d in deltas)
    first, rest = deltas[0][0], [d[0] for d in deltas[1:]]
    assert first["id"].startswith("call_")
    assert first == {
        "index": 0,
        "id": first["id"],
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert rest == [{"index": 0, "function": {"arguments": f}} for f in fragments]


@pytest.mark.parametrize(("engine", "fragments", "text"), CASES)
async def test_responses_streams_function_call_argument_deltas(fake, engine, fragments, text):
    body = {**responses_api.BASE, "model": "tooly", "tools": [responses_api.WEATHER]}
    async with fake(engine()) as (client, _):
        whole, events = await responses_api.both_ways(client, body)
    final = responses_api.checked(events)

    def bare(r: dict[str, Any]) -> list[dict[str, Any]]:
        return [{k: v for k, v in i.items() if k not in ("id", "call_id")} for i in r["output"]]

    assert bare(whole) == bare(final)
    call = whole["output"][-1]
    assert call["type"] == "function_call" and call["arguments"] == "".join(fragments)
    at = next(
        i for i, (n, d) in enumerate(events) if d.get("item", {}).get("type") == "function_call"
    )
    names = [n for n, _ in events[at : at + len(fragments) + 3]]
    assert names == [
        "response.output_item.added",
        *["response.function_call_arguments.delta"] * len(fragments),
        "response.function_call_arguments.done",
        "response.output_item.done",
    ]
    added, *deltas, done, item_done = [d for _, d in events[at : at + len(fragments) + 3]]
    assert added["item"]["arguments"] == "" and added["item"]["name"] == "get_weather"
    assert added["item"]["status"] == "in_progress"
    assert [d["delta"] for d in deltas] == fragments
    assert {d["item_id"] for d in deltas} == {added["item"]["id"]}
    assert done["arguments"] == call["arguments"] and done["name"] == "get_weather"
    ids = {"id": added["item"]["id"], "call_id": added["item"]["call_id"]}
    assert item_done["item"] == {**call, **ids}


@pytest.mark.parametrize(("engine", "fragments", "text"), CASES)
async def test_anthropic_streams_input_json_deltas(fake, engine, fragments, text):
    body = {**anthropic_api.BASE, "model": "tooly", "tools": [anthropic_api.WEATHER]}
    async with fake(engine()) as (client, _):
        whole, events = await anthropic_api.both_ways(client, body)
    call = whole["content"][-1]
    assert call["type"] == "tool_use" and call["input"] == json.loads("".join(fragments))
    streamed = anthropic_api.accumulate(copy.deepcopy(events))
    assert streamed["content"][-1]["input"] == call["input"]
    start = next(
        i for i, (n, d) in enumerate(events) if d.get("content_block", {}).get("type") == "tool_use"
    )
    block: list[tuple[str, dict[str, Any]]] = events[start : start + len(fragments) + 2]
    assert block[0][1]["content_block"] == {
        "type": "tool_use",
        "id": block[0][1]["content_block"]["id"],
        "name": "get_weather",
        "input": {},
    }
    deltas = [d["delta"] for _, d in block[1:-1]]
    assert deltas == [{"type": "input_json_delta", "partial_json": f} for f in fragments]
    assert block[-1][0] == "content_block_stop"


async def test_a_call_cut_short_is_dropped_and_its_text_is_content(fake):
    script = ["<tool_call>", '{"name": "get_weather", "arguments": {', '"city": "Pa']
    engine = tool_engine(script)
    async with fake(engine) as (client, _):
        whole, events = await both(client, {"messages": ASK, "tools": [WEATHER], "max_tokens": 3})
    message = whole["choices"][0]["message"]
    assert "tool_calls" not in message and message["content"] == "".join(script)
    deltas = [c["delta"] for e in events for c in e["choices"]]
    announced = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert [a["function"]["arguments"] for a in announced] == ["", "{", '"city": "Pa']
    assert "".join(d.get("content") or "" for d in deltas) == message["content"]
