"""Tools, structured output, logprobs and n > 1 on the real engine, through the official
SDK and LangChain: SmolLM2 with a Hermes/Qwen-style tool template (one shared server)."""

from __future__ import annotations

import json

import httpx
import jsonschema
import openai
import pytest
from openapi import validate
from pydantic import BaseModel, Field
from realserver import running_server
from tools_gguf import cached_tools_gguf

pytestmark = pytest.mark.real
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER_PARAMS = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 20},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Weather now", "parameters": WEATHER_PARAMS},
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string", "maxLength": 12}},
            "required": ["zone"],
        },
    },
}


class City(BaseModel):
    name: str = Field(max_length=16)
    country: str = Field(max_length=16)


class GetWeather(BaseModel):
    """Current weather of a city."""

    city: str = Field(max_length=16)


@pytest.fixture(scope="module")
def server(model_path, tmp_path_factory):
    gguf = cached_tools_gguf(model_path, tmp_path_factory.getbasetemp() / "tools")
    log = tmp_path_factory.mktemp("tools") / "freehold.log"
    # one thread: on a busy machine two spin-wait for each other (40x slower)
    args = ["-m", str(gguf), "-c", "6144", "-np", "3", "-t", "1", "--alias", "tooly"]
    with running_server(args, log) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    with openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="x", max_retries=0) as c:
        yield c


def test_forced_call_parses_and_validates_whole_and_streamed(client, server):
    args = dict(
        model="tooly",
        messages=ASK,
        tools=[WEATHER, TIME],
        temperature=0.7,
        seed=3,
        parallel_tool_calls=False,  # one call, then the grammar lets the model stop
    )
    r = client.chat.completions.create(**args, tool_choice="required", max_tokens=80)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.id.startswith("call_")
    schema = (
        WEATHER_PARAMS if call.function.name == "get_weather" else TIME["function"]["parameters"]
    )
    jsonschema.validate(json.loads(call.function.arguments), schema)
    named = {"type": "function", "function": {"name": "get_time"}}
    stream = client.chat.completions.create(**args, tool_choice=named, max_tokens=80, stream=True)
    calls: dict[int, dict[str, str]] = {}
    finishes = []
    for chunk in stream:
        for c in chunk.choices:
            finishes += [c.finish_reason] if c.finish_reason else []
            for d in c.delta.tool_calls or []:
                entry = calls.setdefault(d.index, {"name": "", "arguments": ""})
                entry["name"] += d.function.name or ""
                entry["arguments"] += d.function.arguments or ""
    assert finishes == ["tool_calls"] and [c["name"] for c in calls.values()] == ["get_time"]
    jsonschema.validate(json.loads(calls[0]["arguments"]), TIME["function"]["parameters"])
    raw = httpx.post(
        f"{server.base_url}/v1/chat/completions",
        json={**args, "tool_choice": "required", "max_tokens": 80},
        timeout=120,
    )
    validate("CreateChatCompletionResponse", raw.json())


def test_auto_gives_content_or_valid_calls_never_an_error(client):
    for seed in (1, 2):
        r = client.chat.completions.create(
            model="tooly", messages=ASK, tools=[WEATHER], max_tokens=60, seed=seed
        )
        message = r.choices[0].message
        for call in message.tool_calls or []:
            jsonschema.validate(json.loads(call.function.arguments), WEATHER_PARAMS)
        assert message.tool_calls or message.content is not None


def test_tool_history_round_trip(client):
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
    r = client.chat.completions.create(
        model="tooly", messages=history, tools=[WEATHER], max_tokens=20, temperature=0
    )
    assert r.choices[0].finish_reason in ("stop", "length", "tool_calls")


def test_sdk_parse_with_pydantic_response_format_and_function_tool(client):
    r = client.chat.completions.parse(
        model="tooly",
        messages=[{"role": "user", "content": "Name a city and its country."}],
        response_format=City,
        max_tokens=80,
        temperature=0,
    )
    assert isinstance(r.choices[0].message.parsed, City)
    t = client.chat.completions.parse(
        model="tooly",
        messages=ASK,
        tools=[openai.pydantic_function_tool(GetWeather)],
        tool_choice="required",
        parallel_tool_calls=False,
        max_tokens=60,
        temperature=0,
    )
    parsed = t.choices[0].message.tool_calls[0].function.parsed_arguments
    assert isinstance(parsed, GetWeather)


def test_json_object_and_schema_streamed_and_not(client):
    city_schema = City.model_json_schema()
    formats = [
        {"type": "json_object"},
        {"type": "json_schema", "json_schema": {"name": "city", "schema": city_schema}},
    ]
    for fmt in formats:
        for stream in (False, True):
            r = client.chat.completions.create(
                model="tooly",
                messages=[{"role": "user", "content": "Name a city as JSON."}],
                response_format=fmt,
                max_tokens=100,
                temperature=0,
                stream=stream,
            )
            if stream:
                chunks = [c.choices[0] for c in r if c.choices]
                text = "".join(c.delta.content or "" for c in chunks)
                finish = [c.finish_reason for c in chunks if c.finish_reason][0]
            else:
                text, finish = r.choices[0].message.content, r.choices[0].finish_reason
            if fmt["type"] == "json_schema":
                jsonschema.validate(json.loads(text), city_schema)  # bounded: always ends
            elif finish == "stop":
                assert isinstance(json.loads(text), dict)
            else:
                assert text.lstrip().startswith("{")  # cut off, but JSON so far


def test_gbnf_grammar_extension(client):
    r = client.chat.completions.create(
        model="tooly",
        messages=[{"role": "user", "content": "Is Paris in France?"}],
        max_tokens=5,
        extra_body={"grammar": 'root ::= "yes" | "no"'},
    )
    assert r.choices[0].message.content in ("yes", "no")


def test_bad_schema_and_grammar_are_400_and_server_keeps_serving(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="tooly", messages=ASK, max_tokens=5, extra_body={"grammar": "root ::= ("}
        )
    assert err.value.body["param"] == "grammar"
    bad = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"not": {}}}}
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="tooly", messages=ASK, max_tokens=5, response_format=bad
        )
    assert "not" in err.value.body["message"]
    assert client.chat.completions.create(model="tooly", messages=ASK, max_tokens=3).choices


def test_logprobs_chat_and_completions(client):
    r = client.chat.completions.create(
        model="tooly", messages=ASK, max_tokens=8, logprobs=True, top_logprobs=3, temperature=0
    )
    entries = r.choices[0].logprobs.content
    assert len(entries) == r.usage.completion_tokens
    for e in entries:
        tops = [t.logprob for t in e.top_logprobs]
        assert len(tops) == 3 and tops == sorted(tops, reverse=True) and e.logprob <= 0
        assert e.logprob == pytest.approx(tops[0], abs=1e-4)  # greedy: the likeliest token
    assert "".join(e.token for e in entries) == r.choices[0].message.content
    c = client.completions.create(model="tooly", prompt="Paris is", max_tokens=5, logprobs=2)
    lp = c.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.text_offset) == 5
    assert lp.text_offset[0] == len("Paris is")


def test_n_choices_whole_and_streamed(client):
    r = client.chat.completions.create(
        model="tooly", messages=ASK, max_tokens=12, n=3, temperature=1.0, seed=11
    )
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert len({c.message.content for c in r.choices}) > 1  # distinct samples
    assert 3 < r.usage.completion_tokens <= 3 * 12  # every choice counted
    stream = client.chat.completions.create(
        model="tooly", messages=ASK, max_tokens=6, n=2, stream=True
    )
    finishes = sorted(
        (c.index, c.finish_reason) for chunk in stream for c in chunk.choices if c.finish_reason
    )
    assert [i for i, _ in finishes] == [0, 1]
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="tooly", messages=ASK, max_tokens=3, n=4)


def test_langchain_bind_tools_and_structured_output(server):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(
        base_url=f"{server.base_url}/v1", api_key="x", model="tooly", max_tokens=80, temperature=0
    )
    bound = llm.bind_tools([GetWeather], tool_choice="GetWeather", parallel_tool_calls=False)
    msg = bound.invoke("Weather in Paris?")
    assert msg.tool_calls and msg.tool_calls[0]["name"] == "GetWeather"
    assert isinstance(msg.tool_calls[0]["args"]["city"], str)
    city = llm.with_structured_output(City, method="json_schema").invoke("Name a city.")
    assert isinstance(city, City)
