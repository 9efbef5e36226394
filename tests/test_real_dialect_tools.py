"""Tools and JSON formats through the two other dialects on the real engine: the official
anthropic SDK's Messages and the openai SDK's Responses against SmolLM2 with a
Hermes/Qwen-style tool template. Forced calls are grammar-constrained, so their input
validates against the tool's schema; the same server as the chat tools tests."""

from __future__ import annotations

import json

import anthropic
import jsonschema
import openai
import pytest
from openapi import validate
from test_real_tools import WEATHER_PARAMS, server  # noqa: F401  (the shared module server)

pytestmark = pytest.mark.real
ASK = "What is the weather in Paris?"
CITY = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 16}},
    "required": ["name"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def claude(server):  # noqa: F811
    with anthropic.Anthropic(base_url=server.base_url, api_key="x", max_retries=0) as c:
        yield c


@pytest.fixture(scope="module")
def oai(server):  # noqa: F811
    with openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="x", max_retries=0) as c:
        yield c


def test_anthropic_forced_tool_use_whole_and_streamed(claude):
    tool = {"name": "get_weather", "description": "Weather now", "input_schema": WEATHER_PARAMS}
    args = dict(
        model="tooly",
        max_tokens=80,
        messages=[{"role": "user", "content": ASK}],
        tools=[tool],
        tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
    )
    message = claude.messages.create(**args)
    assert message.stop_reason == "tool_use"
    (use,) = [b for b in message.content if b.type == "tool_use"]
    assert use.name == "get_weather" and use.id
    jsonschema.validate(use.input, WEATHER_PARAMS)
    with claude.messages.stream(**args) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    (streamed,) = [b for b in final.content if b.type == "tool_use"]
    jsonschema.validate(streamed.input, WEATHER_PARAMS)
    result = claude.messages.create(
        **{
            **args,
            "tool_choice": {"type": "none"},
            "messages": [
                {"role": "user", "content": ASK},
                {"role": "assistant", "content": [use.model_dump()]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": use.id, "content": "sunny, 21 C"}
                ]},
            ],
        }
    )  # fmt: skip
    assert result.stop_reason in ("end_turn", "max_tokens")
    assert [b.type for b in result.content] == ["text"]


def test_anthropic_output_format_is_json(claude):
    message = claude.messages.create(
        model="tooly",
        max_tokens=60,
        messages=[{"role": "user", "content": "Name a city."}],
        extra_body={"output_config": {"format": {"type": "json_schema", "schema": CITY}}},
    )
    jsonschema.validate(json.loads(message.content[0].text), CITY)


def test_responses_forced_function_call_and_its_output(oai):
    tool = {"type": "function", "name": "get_weather", "parameters": WEATHER_PARAMS}
    # one call, then the grammar lets the model stop
    args = dict(
        model="tooly", input=ASK, tools=[tool], max_output_tokens=80, parallel_tool_calls=False
    )
    r = oai.responses.create(**args, tool_choice={"type": "function", "name": "get_weather"})
    validate("Response", r.model_dump(mode="json", exclude_unset=True))
    (call,) = [item for item in r.output if item.type == "function_call"]
    assert call.name == "get_weather" and call.call_id
    jsonschema.validate(json.loads(call.arguments), WEATHER_PARAMS)
    with oai.responses.stream(**args, tool_choice="required") as stream:
        final = stream.get_final_response()
    (streamed,) = [item for item in final.output if item.type == "function_call"]
    jsonschema.validate(json.loads(streamed.arguments), WEATHER_PARAMS)
    follow = oai.responses.create(
        model="tooly",
        max_output_tokens=30,
        tools=[tool],
        tool_choice="none",
        input=[
            {"role": "user", "content": ASK},
            {"type": "function_call", "call_id": call.call_id, "name": call.name,
             "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
        ],
    )  # fmt: skip
    assert [item.type for item in follow.output] == ["message"]


def test_responses_json_schema_format(oai):
    r = oai.responses.create(
        model="tooly",
        input="Name a city.",
        max_output_tokens=60,
        text={"format": {"type": "json_schema", "name": "city", "schema": CITY, "strict": True}},
    )
    jsonschema.validate(json.loads(r.output_text), CITY)
