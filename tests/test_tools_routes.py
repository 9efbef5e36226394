"""Tools, structured output, logprobs and n > 1 through the API over the FakeEngine
(the real scheduler step, scripted tokens)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openapi import validate
from test_api_fast import sse_events
from tools_gguf import TOOL_TEMPLATE

from freehold.engine.fake import FakeEngine
from freehold.engine.types import ModelInfo

pytestmark = pytest.mark.anyio
CHAT = "/v1/chat/completions"
ASK = [{"role": "user", "content": "Weather in Paris?"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
CALL_SCRIPT = [
    "Let me look.",
    "\n<tool",
    "_call>\n",
    '{"name": "get_weather", ',
    '"arguments": {"city": ',
    '"Paris"}}\n</tool_call>',
]


def tool_engine(script: list[str] | None = None, slots: int = 1) -> FakeEngine:
    info = ModelInfo(id="tooly", n_ctx_slot=1024, chat_template=TOOL_TEMPLATE)
    return FakeEngine(script=script or CALL_SCRIPT, info=info, slots=slots)


async def both(client: Any, body: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    whole = await client.post(CHAT, json=body)
    assert whole.status_code == 200, whole.text
    events = sse_events((await client.post(CHAT, json={**body, "stream": True})).text)
    return whole.json(), events


async def test_tool_call_whole_and_streamed(fake):
    async with fake(tool_engine()) as (client, engine):
        whole, events = await both(client, {"messages": ASK, "tools": [WEATHER]})
    validate("CreateChatCompletionResponse", whole)
    choice = whole["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me look."
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    for event in events:
        validate("CreateChatCompletionStreamResponse", event)
    deltas = [c["delta"] for e in events for c in e["choices"]]
    streamed = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert {s["index"] for s in streamed} == {0} and len(streamed) > 2  # name, then arguments
    assert streamed[0]["function"]["name"] == "get_weather"
    arguments = "".join(s["function"]["arguments"] for s in streamed)
    assert arguments == call["function"]["arguments"]
    finishes = [c["finish_reason"] for e in events for c in e["choices"] if c["finish_reason"]]
    assert finishes == ["tool_calls"]
    request = engine.requests[0]
    assert request.tool_format == "hermes" and request.grammar and request.grammar.lazy
    assert '"name": "get_weather"' in request.prompt  # the template rendered the tools


async def test_forced_calls_get_a_grammar_that_starts_with_the_marker(fake):
    named = {"type": "function", "function": {"name": "get_weather"}}
    async with fake(tool_engine()) as (client, engine):
        for choice in ("required", named):
            body = {"messages": ASK, "tools": [WEATHER], "tool_choice": choice}
            assert (await client.post(CHAT, json=body)).status_code == 200
        await client.post(CHAT, json={"messages": ASK, "tools": [WEATHER], "tool_choice": "none"})
    required, named_req, none = engine.requests
    for request in (required, named_req):
        assert request.grammar is not None and not request.grammar.lazy
        assert 'root ::= "<tool_call>"' in request.grammar.gbnf
        assert '"\\"city\\""' in request.grammar.gbnf  # arguments held to the schema
    assert none.tool_format is None and none.grammar is None


async def test_malformed_call_under_auto_is_content_not_an_error(fake):
    script = ["<tool_call>", "\n{oops}", "\n</tool_call>"]
    async with fake(tool_engine(script)) as (client, _):
        whole, events = await both(client, {"messages": ASK, "tools": [WEATHER]})
    message = whole["choices"][0]["message"]
    assert message["content"] == "<tool_call>\n{oops}\n</tool_call>"
    assert "tool_calls" not in message and whole["choices"][0]["finish_reason"] == "stop"


async def test_tool_history_is_rendered_by_the_template(fake):
    history = [
        *ASK,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
    ]
    async with fake(tool_engine(["Sunny."])) as (client, engine):
        r = await client.post(CHAT, json={"messages": history, "tools": [WEATHER]})
    assert r.status_code == 200
    prompt = engine.requests[0].prompt
    assert '{"name": "get_weather", "arguments": {"city": "Paris"}}' in prompt
    assert "<tool_response>\nsunny, 21 C\n</tool_response>" in prompt


async def test_template_without_tools_gets_the_generic_json_format(fake):
    script = ['{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}']
    async with fake(FakeEngine(script=script)) as (client, engine):
        r = await client.post(CHAT, json={"messages": ASK, "tools": [WEATHER]})
    assert r.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    request = engine.requests[0]
    assert request.tool_format == "generic" and request.grammar and not request.grammar.lazy
    assert "get_weather" in request.prompt  # described in a system message


@pytest.mark.parametrize(
    ("response_format", "marker"),
    [
        ({"type": "json_object"}, "root   ::= object"),
        (
            {
                "type": "json_schema",
                "json_schema": {
                    "name": "city",
                    "strict": True,
                    "schema": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}},
                        "required": ["name"],
                        "additionalProperties": False,
                    },
                },
            },
            '"\\"name\\""',
        ),
    ],
)
async def test_response_format_becomes_a_grammar(fake, response_format, marker):
    async with fake(FakeEngine(script=['{"name": "Paris"}'])) as (client, engine):
        r = await client.post(CHAT, json={"messages": ASK, "response_format": response_format})
    assert json.loads(r.json()["choices"][0]["message"]["content"]) == {"name": "Paris"}
    grammar = engine.requests[0].grammar
    assert grammar is not None and marker in grammar.gbnf and not grammar.lazy


async def test_grammar_extension_reaches_the_engine_on_both_endpoints(fake):
    gbnf = 'root ::= "yes" | "no"'
    async with fake(FakeEngine(script=["yes"])) as (client, engine):
        await client.post(CHAT, json={"messages": ASK, "grammar": gbnf})
        await client.post("/v1/completions", json={"prompt": "Q?", "grammar": gbnf})
    assert [r.grammar.gbnf for r in engine.requests if r.grammar] == [gbnf, gbnf]


async def test_chat_logprobs_whole_and_streamed(fake):
    body = {"messages": ASK, "logprobs": True, "top_logprobs": 3}
    async with fake() as (client, _):
        whole, events = await both(client, body)
    validate("CreateChatCompletionResponse", whole)
    entries = whole["choices"][0]["logprobs"]["content"]
    assert [e["token"] for e in entries] == ["Hello", ",", " world", "!"]
    assert all(len(e["top_logprobs"]) == 3 for e in entries)
    tops = [t["logprob"] for t in entries[0]["top_logprobs"]]
    assert tops == sorted(tops, reverse=True) and entries[0]["bytes"] == list(b"Hello")
    streamed = [
        e for ev in events for c in ev["choices"] if c["logprobs"] for e in c["logprobs"]["content"]
    ]
    assert streamed == entries


async def test_completion_logprobs_have_offsets_from_the_prompt(fake):
    async with fake() as (client, _):
        r = await client.post("/v1/completions", json={"prompt": "Say hi", "logprobs": 2})
    lps = r.json()["choices"][0]["logprobs"]
    assert lps["tokens"] == ["Hello", ",", " world", "!"]
    assert lps["text_offset"] == [6, 11, 12, 18]
    assert all(len(t) <= 2 for t in lps["top_logprobs"]) and lps["token_logprobs"][0] == -0.25


async def test_n_choices_share_one_prompt_evaluation(fake):
    async with fake(FakeEngine(slots=3)) as (client, engine):
        whole = (await client.post(CHAT, json={"messages": ASK, "n": 3})).json()
        decoded, copies = list(engine.backend.decoded), list(engine.backend.copies)
        body = {"messages": ASK, "n": 3, "stream": True}
        events = sse_events((await client.post(CHAT, json=body)).text)
    validate("CreateChatCompletionResponse", whole)
    assert [c["index"] for c in whole["choices"]] == [0, 1, 2]
    assert {c["message"]["content"] for c in whole["choices"]} == {"Hello, world!"}
    assert whole["usage"]["completion_tokens"] == 3 * 4
    assert whole["usage"]["prompt_tokens"] < whole["usage"]["completion_tokens"]
    prompt_len = whole["usage"]["prompt_tokens"]
    prompt_entries = [e for step in decoded for e in step if e[1] < prompt_len]
    assert len(prompt_entries) == prompt_len  # the prompt was decoded once, on one sequence
    assert len({e[2] for e in prompt_entries}) == 1
    assert len(copies) == 2 and {src for src, _ in copies} == {prompt_entries[0][2]}
    finishes = sorted(
        (c["index"], c["finish_reason"]) for e in events for c in e["choices"] if c["finish_reason"]
    )
    assert finishes == [(0, "stop"), (1, "stop"), (2, "stop")]
    roles = [c["index"] for e in events for c in e["choices"] if "role" in c["delta"]]
    assert roles == [0, 1, 2]


async def test_models_list_capabilities(fake):
    async with fake(tool_engine()) as (client, _):
        meta = (await client.get("/v1/models")).json()["data"][0]["meta"]
    assert meta["tools"] is True and meta["tool_format"] == "hermes"
    assert meta["structured_output"] == ["json_object", "json_schema", "grammar"]
    assert meta["logprobs"] is True
