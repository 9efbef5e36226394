"""OpenAI Responses in-process over a scripted FakeEngine: bodies and events validated
against OpenAI's published spec and the openai SDK's types; the store; errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from named_sse import named_events
from openai.types.responses import Response, ResponseStreamEvent
from openapi import validate, validate_response_event
from pydantic import TypeAdapter
from test_reasoning_routes import thinking_engine
from test_tools_routes import WEATHER as CHAT_WEATHER
from test_tools_routes import tool_engine

from freehold.engine.fake import FakeEngine

pytestmark = pytest.mark.anyio
RESPONSES = "/v1/responses"
BASE = {"model": "fake-model", "input": "hi"}
EVENT = TypeAdapter(ResponseStreamEvent)
VOLATILE = {"id", "created_at", "completed_at"}


async def both_ways(client: Any, body: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    whole = await client.post(RESPONSES, json=body)
    assert whole.status_code == 200, whole.text
    streamed = await client.post(RESPONSES, json={**body, "stream": True})
    assert streamed.headers["content-type"].startswith("text/event-stream")
    return whole.json(), named_events(streamed.text)


def checked(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Validate every event and return the final response it announces."""
    for n, (name, data) in enumerate(events):
        assert name == data["type"] and data["sequence_number"] == n
        validate_response_event(data)
        EVENT.validate_python(data)
    assert events[0][0] == "response.created" and events[1][0] == "response.in_progress"
    assert events[-1][0] in ("response.completed", "response.incomplete")
    return events[-1][1]["response"]


def texts(response: dict[str, Any]) -> dict[str, str]:
    out = {}
    for item in response["output"]:
        out[item["type"]] = "".join(part["text"] for part in item["content"])
    return out


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def strip(r: dict[str, Any]) -> dict[str, Any]:
        output = [{k: v for k, v in item.items() if k != "id"} for item in r["output"]]
        usage = {k: v for k, v in r["usage"].items() if k != "input_tokens_details"}
        kept = {k: v for k, v in r.items() if k not in VOLATILE}
        return {**kept, "output": output, "usage": usage}  # the 2nd may hit the prefix cache

    return strip(a) == strip(b)


async def test_response_matches_the_spec_and_the_stream_folds_to_it(fake):
    async with fake() as (client, _):
        whole, events = await both_ways(client, BASE)
    validate("Response", whole)
    Response.model_validate(whole)
    assert whole["object"] == "response" and whole["status"] == "completed"
    assert whole["id"].startswith("resp_") and whole["model"] == "fake-model"
    assert texts(whole) == {"message": "Hello, world!"}
    assert whole["usage"]["output_tokens"] == 4
    assert whole["usage"]["total_tokens"] == whole["usage"]["input_tokens"] + 4
    final = checked(events)
    assert same(final, whole)
    names = [name for name, _ in events]
    assert names[2:5] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
    ]
    assert names[-4:-1] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ]
    assert "".join(d["delta"] for n, d in events if n == "response.output_text.delta") == (
        "Hello, world!"
    )


async def test_reasoning_effort_gives_a_reasoning_item_before_the_message(fake):
    body = {"model": "thinker", "input": "What is 2+2?", "reasoning": {"effort": "high"}}
    async with fake(thinking_engine()) as (client, engine):
        whole, events = await both_ways(client, body)
    validate("Response", whole)
    assert [item["type"] for item in whole["output"]] == ["reasoning", "message"]
    assert texts(whole) == {"reasoning": "Let me add two and two.", "message": "It is 4."}
    assert whole["usage"]["output_tokens_details"]["reasoning_tokens"] > 0
    assert engine.requests[0].reasoning is not None
    final = checked(events)
    assert same(final, whole)
    assert any(n == "response.reasoning_text.delta" for n, _ in events)


async def test_reasoning_effort_none_gives_no_reasoning_item(fake):
    body = {"model": "thinker", "input": "What is 2+2?", "reasoning": {"effort": "none"}}
    async with fake(thinking_engine(["It is", " 4."])) as (client, engine):
        whole, _ = await both_ways(client, body)
    assert texts(whole) == {"message": "It is 4."} and not engine.requests[0].reasoning.thinking


async def test_max_output_tokens_makes_it_incomplete(fake):
    async with fake(FakeEngine(script=["a", "b", "c", "d"])) as (client, _):
        whole, events = await both_ways(client, {**BASE, "max_output_tokens": 2})
    validate("Response", whole)
    assert whole["status"] == "incomplete"
    assert whole["incomplete_details"] == {"reason": "max_output_tokens"}
    assert whole["output"][0]["status"] == "incomplete" and texts(whole) == {"message": "ab"}
    assert events[-1][0] == "response.incomplete" and same(checked(events), whole)


async def test_items_instructions_and_function_calls_reach_the_prompt(fake):
    items = [
        {"role": "developer", "content": "Use tools."},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Paris?"}]},
        {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny, 21 C"},
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": "old thought"}],
        },
        {"role": "user", "content": "and tomorrow?"},
    ]
    async with fake() as (client, engine):
        r = await client.post(RESPONSES, json={**BASE, "input": items, "instructions": "Be terse."})
    assert r.status_code == 200, r.text
    prompt = engine.requests[0].prompt
    assert prompt.index("Be terse.") < prompt.index("Use tools.") < prompt.index("Paris?")
    assert prompt.index("sunny, 21 C") < prompt.index("and tomorrow?")
    assert "old thought" not in prompt
    assert r.json()["instructions"] == "Be terse."


async def test_store_get_continue_delete(fake):
    async with fake(FakeEngine(script=["Hi", " there"])) as (client, engine):
        first = (await client.post(RESPONSES, json={**BASE, "input": "my name is Ada"})).json()
        got = await client.get(f"{RESPONSES}/{first['id']}")
        assert got.status_code == 200 and got.json() == first
        second = await client.post(
            RESPONSES,
            json={**BASE, "input": "what is my name?", "previous_response_id": first["id"]},
        )
        assert second.status_code == 200 and second.json()["previous_response_id"] == first["id"]
        prompt = engine.requests[1].prompt
        assert prompt.index("my name is Ada") < prompt.index("Hi there")
        assert prompt.index("Hi there") < prompt.index("what is my name?")
        deleted = await client.delete(f"{RESPONSES}/{first['id']}")
        assert deleted.json() == {"id": first["id"], "object": "response", "deleted": True}
        gone = await client.get(f"{RESPONSES}/{first['id']}")
        again = await client.delete(f"{RESPONSES}/{first['id']}")
        lost = await client.post(RESPONSES, json={**BASE, "previous_response_id": first["id"]})
    for r in (gone, again, lost):
        assert r.status_code == 404
        validate("ErrorResponse", r.json())
        assert r.json()["error"]["type"] == "not_found_error"
    assert lost.json()["error"]["param"] == "previous_response_id"


async def test_streamed_responses_are_stored_and_unstored_ones_are_not(fake):
    async with fake() as (client, _):
        streamed = named_events((await client.post(RESPONSES, json={**BASE, "stream": True})).text)
        final = streamed[-1][1]["response"]
        kept = await client.get(f"{RESPONSES}/{final['id']}")
        unkept = (await client.post(RESPONSES, json={**BASE, "store": False})).json()
        missing = await client.get(f"{RESPONSES}/{unkept['id']}")
    assert kept.status_code == 200 and kept.json() == final
    assert unkept["store"] is False and missing.status_code == 404


async def test_the_store_keeps_only_the_newest(fake):
    async with fake(responses_store=2) as (client, _):
        ids = [(await client.post(RESPONSES, json=BASE)).json()["id"] for _ in range(3)]
        codes = [(await client.get(f"{RESPONSES}/{i}")).status_code for i in ids]
    assert codes == [404, 200, 200]


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"input": []}, "input"),
        ({"input": 3}, "input"),
        ({"input": [{"role": "wizard", "content": "x"}]}, "input"),
        ({"input": [{"type": "mystery"}]}, "input"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]},
            "input.0.content.0",
        ),
        (
            {"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{"}]},
            "input.0.arguments",
        ),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input.0"),
        (  # the list member of the input's union, not "input should be a string"
            {"input": [{"type": "function_call", "call_id": 3, "name": "f", "arguments": "{}"}]},
            "input.0.call_id",
        ),
        ({"input": [{"role": "user", "content": 5}]}, "input.0.content"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"temperature": 3}, "temperature"),
        ({"top_p": 2}, "top_p"),
        ({"reasoning": {"effort": "huge"}}, "reasoning.effort"),
        ({"tools": [{"type": "web_search"}]}, "tools"),
        ({"tool_choice": {"type": "function", "name": "nope"}}, "tool_choice.name"),
        ({"text": {"format": {"type": "yaml"}}}, "text.format.type"),
        ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format"),
        ({"background": True}, "background"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"metadata": {"k": 1}}, "metadata"),
        ({"frobnicate": True}, "frobnicate"),
        ({"model": "gpt-5"}, "model"),
    ],
)
async def test_bad_input_is_a_4xx_naming_the_field(fake, change, param):
    async with fake() as (client, engine):
        r = await client.post(RESPONSES, json={**BASE, **change})
        assert (await client.post(RESPONSES, json=BASE)).status_code == 200  # still serving
    assert r.status_code in (400, 404), r.text
    validate("ErrorResponse", r.json())
    assert (r.json()["error"]["param"] or "").startswith(param), r.json()
    assert len(engine.requests) == 1


WEATHER = {"type": "function", **CHAT_WEATHER["function"]}  # Responses' flat tool shape


async def test_function_call_whole_and_streamed(fake):
    body = {**BASE, "model": "tooly", "tools": [WEATHER]}
    async with fake(tool_engine()) as (client, engine):
        whole, events = await both_ways(client, body)
    validate("Response", whole)
    Response.model_validate(whole)
    kinds = [item["type"] for item in whole["output"]]
    assert kinds == ["message", "function_call"]
    call = whole["output"][1]
    assert call["name"] == "get_weather" and call["call_id"]
    assert json.loads(call["arguments"]) == {"city": "Paris"}
    final = checked(events)
    assert [item["type"] for item in final["output"]] == kinds
    assert json.loads(final["output"][1]["arguments"]) == {"city": "Paris"}
    request = engine.requests[0]
    assert request.tool_format == "hermes" and request.grammar and request.grammar.lazy
    assert '"name": "get_weather"' in request.prompt


async def test_function_call_output_and_choices_reach_the_engine(fake):
    history = [
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather",
         "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ]  # fmt: skip
    tooly = {**BASE, "model": "tooly", "tools": [WEATHER]}
    async with fake(tool_engine(["Sunny."])) as (client, engine):
        r = await client.post(RESPONSES, json={**tooly, "input": history})
        assert r.status_code == 200, r.text
        none = await client.post(RESPONSES, json={**tooly, "tool_choice": "none"})
        assert none.status_code == 200, none.text
        named = {"type": "function", "name": "get_weather"}
        forced = await client.post(RESPONSES, json={**tooly, "tool_choice": named})
        assert forced.status_code == 200, forced.text
    with_output, without, forced_request = engine.requests
    assert "sunny" in with_output.prompt
    assert without.grammar is None
    assert forced_request.grammar is not None and not forced_request.grammar.lazy


async def test_json_formats_get_a_grammar(fake):
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    formats = [
        {"type": "json_object"},
        {"type": "json_schema", "name": "thing", "schema": schema, "strict": True},
    ]
    async with fake(FakeEngine(script=['{"a": 1}'])) as (client, engine):
        for fmt in formats:
            r = await client.post(RESPONSES, json={**BASE, "text": {"format": fmt}})
            assert r.status_code == 200, r.text
    assert all(request.grammar is not None for request in engine.requests)
    assert len(engine.requests) == 2
