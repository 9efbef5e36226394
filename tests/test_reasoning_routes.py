"""The reasoning switch through the API, over a scripted FakeEngine with a thinking template."""

from __future__ import annotations

from typing import Any

import pytest
from openapi import validate
from test_api_fast import sse_events
from thinking_gguf import THINKING_TEMPLATE

from freehold.engine.fake import FakeEngine
from freehold.engine.types import ModelInfo

pytestmark = pytest.mark.anyio
CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "What is 2+2?"}]
# The template opens <think> in the prompt when thinking is on, so output starts inside it.
THOUGHT = ["Let me", " add", " two", " and two.", "</think>", "\n\n", "It is", " 4."]


def thinking_engine(script: list[str] | None = None) -> FakeEngine:
    info = ModelInfo(id="thinker", n_ctx_slot=512, chat_template=THINKING_TEMPLATE)
    return FakeEngine(script=script or THOUGHT, info=info)


async def both_ways(client: Any, body: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    whole = (await client.post(CHAT, json=body)).json()
    events = sse_events((await client.post(CHAT, json={**body, "stream": True})).text)
    return whole, events


def folded(events: list[dict[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for event in events:
        for choice in event["choices"]:
            for key, text in choice["delta"].items():
                if key != "role":
                    out[key] = out.get(key, "") + text
    return out


@pytest.mark.parametrize(
    "dialect",
    [
        {"reasoning_effort": "high"},
        {"think": True},
        {"reasoning": {"effort": "medium"}},
        {"chat_template_kwargs": {"enable_thinking": True}},
    ],
)
async def test_thinking_on_separates_reasoning_from_content(fake, dialect):
    async with fake(thinking_engine()) as (client, engine):
        whole, events = await both_ways(client, {"messages": HI, **dialect})
    validate("CreateChatCompletionResponse", whole)
    message = whole["choices"][0]["message"]
    assert message["content"] == "It is 4."
    assert message["reasoning_content"] == "Let me add two and two."
    assert "<think>" not in message["content"] and "</think>" not in message["content"]
    assert folded(events) == {
        "content": "It is 4.",
        "reasoning_content": message["reasoning_content"],
    }
    assert engine.requests[0].prompt.endswith("<think>\n")
    assert whole["usage"]["completion_tokens_details"]["reasoning_tokens"] == 5  # incl. </think>


@pytest.mark.parametrize(
    "dialect",
    [
        {"reasoning_effort": "none"},
        {"think": False},
        {"chat_template_kwargs": {"enable_thinking": False}},
        {"max_reasoning_tokens": 0},
    ],
)
async def test_thinking_off_prefills_closed_block_and_returns_no_reasoning(fake, dialect):
    async with fake(thinking_engine(["It is", " 4."])) as (client, engine):
        whole, events = await both_ways(client, {"messages": HI, **dialect})
    message = whole["choices"][0]["message"]
    assert message["content"] == "It is 4." and "reasoning_content" not in message
    assert engine.requests[0].prompt.rstrip().endswith("</think>")
    plan = engine.requests[0].reasoning
    assert plan is not None and plan.thinking is False  # split off, never budgeted
    assert folded(events) == {"content": "It is 4."}


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        (
            "reasoning_content",
            {"reasoning_content": "Let me add two and two.", "content": "It is 4."},
        ),
        ("reasoning", {"reasoning": "Let me add two and two.", "content": "It is 4."}),
        (
            "both",
            {
                "reasoning_content": "Let me add two and two.",
                "reasoning": "Let me add two and two.",
                "content": "It is 4.",
            },
        ),
        ("hidden", {"content": "It is 4."}),
    ],
)
async def test_output_shapes_stream_equals_whole(fake, shape, expected):
    async with fake(thinking_engine()) as (client, _):
        whole, events = await both_ways(
            client, {"messages": HI, "think": True, "reasoning_format": shape}
        )
    message = {
        k: v for k, v in whole["choices"][0]["message"].items() if k not in ("role", "refusal")
    }
    assert message == expected
    assert folded(events) == expected


async def test_inline_keeps_raw_markers_in_content(fake):
    async with fake(thinking_engine()) as (client, _):
        whole, events = await both_ways(
            client, {"messages": HI, "think": True, "reasoning_format": "inline"}
        )
    content = whole["choices"][0]["message"]["content"]
    assert content.startswith("<think>") and "</think>" in content and content.endswith("4.")
    assert folded(events)["content"] == content


async def test_budget_closes_the_block_and_the_answer_still_comes(fake):
    script = ["a", " b", " c", " d", " e", " f", " g", " h", "It is", " 4."]
    async with fake(thinking_engine(script)) as (client, _):
        whole, events = await both_ways(
            client, {"messages": HI, "think": True, "max_reasoning_tokens": 3}
        )
    message = whole["choices"][0]["message"]
    assert message["reasoning_content"] == "a b c"
    assert message["content"].strip().startswith("d")  # the model goes on after </think>
    assert whole["usage"]["completion_tokens_details"]["reasoning_tokens"] >= 3
    assert folded(events)["content"] == message["content"]


async def test_conflicting_dialects_are_400_naming_both(fake):
    async with fake(thinking_engine()) as (client, _):
        r = await client.post(
            CHAT, json={"messages": HI, "reasoning_effort": "none", "think": True}
        )
    assert r.status_code == 400
    error = r.json()["error"]
    assert "reasoning_effort" in error["message"] and "think" in error["message"]


async def test_model_without_reasoning_ignores_on_and_says_so(fake):
    async with fake() as (client, engine):
        r = await client.post(CHAT, json={"messages": HI, "reasoning_effort": "high"})
        card = (await client.get("/v1/models")).json()["data"][0]
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]
    assert engine.requests[0].reasoning is None
    assert card["meta"]["reasoning"] is False


async def test_models_show_reasoning_capabilities(fake):
    async with fake(thinking_engine()) as (client, _):
        card = (await client.get("/v1/models")).json()["data"][0]["meta"]
    expected = {
        "reasoning": True,
        "family": "think",
        "markers": ["<think>", "</think>"],
        "switchable": True,
        "can_disable": True,
        "levels": ["none", "minimal", "low", "medium", "high"],
        "native_levels": [],
        "default": "on",
    }
    assert {key: card.get(key) for key in expected} == expected


async def test_reasoning_models_get_special_tokens_rendered(fake):
    async with fake(thinking_engine()) as (client, engine):
        await client.post(CHAT, json={"messages": HI, "think": False})
    async with fake() as (client, plain):
        await client.post(CHAT, json={"messages": HI})
    assert engine.requests[0].special is True  # markers may be control tokens
    assert plain.requests[0].special is False
