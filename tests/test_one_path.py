"""One path: Chat Completions, Responses and Anthropic Messages are translations into one
Turn, planned by one planner. The same conversation sent in each dialect reaches the
engine as the same GenerationRequest (the real translators and planner over the
FakeEngine; the engine records what it was asked)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from thinking_gguf import THINKING_TEMPLATE
from tools_gguf import TOOL_TEMPLATE

from freehold.engine.fake import FakeEngine
from freehold.engine.types import GenerationRequest, ModelInfo

pytestmark = pytest.mark.anyio
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
ARGS = json.dumps({"city": "Paris"})
SYSTEM, ASK, RESULT, AGAIN = "Be brief.", "Weather in Paris?", "sunny", "And tomorrow?"
SAMPLING = {"temperature": 0.5, "top_p": 0.9}

CHAT = {
    "model": "tooly",
    "max_tokens": 7,
    "stop": ["END"],
    "tools": [
        {
            "type": "function",
            "function": {"name": "weather", "description": "A city's", "parameters": SCHEMA},
        }
    ],
    "messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": ASK},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": ARGS}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": RESULT},
        {"role": "user", "content": AGAIN},
    ],
    **SAMPLING,
}
RESPONSES = {
    "model": "tooly",
    "max_output_tokens": 7,
    "instructions": SYSTEM,
    "tools": [
        {"type": "function", "name": "weather", "description": "A city's", "parameters": SCHEMA}
    ],
    "input": [
        {"role": "user", "content": ASK},
        {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": ARGS},
        {"type": "function_call_output", "call_id": "c1", "output": RESULT},
        {"role": "user", "content": AGAIN},
    ],
    **SAMPLING,
}
MESSAGES = {
    "model": "tooly",
    "max_tokens": 7,
    "stop_sequences": ["END"],
    "system": SYSTEM,
    "tools": [{"name": "weather", "description": "A city's", "input_schema": SCHEMA}],
    "messages": [
        {"role": "user", "content": ASK},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "c1", "name": "weather", "input": {"city": "Paris"}}
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "c1", "content": RESULT}],
        },
        {"role": "user", "content": AGAIN},
    ],
    **SAMPLING,
}


def neutral(request: GenerationRequest) -> GenerationRequest:
    """The request without what differs by design: its id (each dialect names its own)."""
    return replace(request, request_id="")


async def test_one_conversation_in_three_dialects_is_one_engine_request(fake):
    info = ModelInfo(id="tooly", n_ctx_slot=1024, chat_template=TOOL_TEMPLATE)
    async with fake(FakeEngine(script=["ok"], info=info)) as (client, engine):
        for path, body in [
            ("/v1/chat/completions", CHAT),
            ("/v1/responses", RESPONSES),
            ("/v1/messages", MESSAGES),
        ]:
            r = await client.post(path, json=body)
            assert r.status_code == 200, (path, r.text)
    chat, responses, messages = engine.requests
    # the tool call of the history is rendered as an object by every dialect
    assert '{"name": "weather", "arguments": {"city": "Paris"}}' in chat.prompt
    assert chat.prompt.index(SYSTEM) < chat.prompt.index(ASK) < chat.prompt.index(RESULT)
    assert chat.tool_format == "hermes" and chat.grammar is not None
    assert (chat.sampling.temperature, chat.sampling.top_p, chat.max_tokens) == (0.5, 0.9, 7)
    assert neutral(chat) == neutral(messages)
    # Responses has no stop sequences: all else is the same request
    assert chat.stop == ("END",) and neutral(chat) == replace(neutral(responses), stop=("END",))


THINKING_OFF = [
    ("/v1/chat/completions", {"reasoning_effort": "none", "max_tokens": 9}),
    ("/v1/responses", {"reasoning": {"effort": "none"}, "max_output_tokens": 9}),
    ("/v1/messages", {"thinking": {"type": "disabled"}, "max_tokens": 9}),
]
BUDGET = [
    ("/v1/chat/completions", {"reasoning": {"enabled": True, "max_tokens": 5}, "max_tokens": 9}),
    ("/v1/messages", {"thinking": {"type": "enabled", "budget_tokens": 5}, "max_tokens": 9}),
]


@pytest.mark.parametrize("asks", [THINKING_OFF, BUDGET], ids=["off", "budget"])
async def test_each_dialects_reasoning_switch_plans_the_same_request(fake, asks):
    info = ModelInfo(id="thinker", n_ctx_slot=1024, chat_template=THINKING_TEMPLATE)
    hello = [{"role": "user", "content": "hi"}]
    async with fake(FakeEngine(script=["ok"], info=info)) as (client, engine):
        for path, fields in asks:
            key = "input" if path == "/v1/responses" else "messages"
            r = await client.post(path, json={"model": "thinker", key: hello, **fields})
            assert r.status_code == 200, (path, r.text)
    first, *others = [neutral(request) for request in engine.requests]
    assert first.reasoning is not None and all(other == first for other in others)
    off = asks is THINKING_OFF
    assert first.reasoning.thinking is not off and first.prompt.endswith("</think>\n\n") is off
    assert first.reasoning.budget == (None if off else 5)
