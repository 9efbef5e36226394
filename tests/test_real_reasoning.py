"""Reasoning on the real engine: SmolLM2 with its template rewritten to a thinking one."""

from __future__ import annotations

import openai
import pytest
from realserver import running_server
from thinking_gguf import cached_thinking_gguf

pytestmark = pytest.mark.real
ASK = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def client(model_path, tmp_path_factory):
    gguf = cached_thinking_gguf(model_path, tmp_path_factory.getbasetemp() / "thinking")
    log = tmp_path_factory.mktemp("reasoning") / "freehold.log"
    with running_server(
        ["-m", str(gguf), "-c", "2048", "-np", "2", "-t", "2", "--alias", "thinker"], log
    ) as srv:
        yield openai.OpenAI(base_url=f"{srv.base_url}/v1", api_key="x", max_retries=0)


def reasoning_of(message) -> str | None:
    return (message.model_extra or {}).get("reasoning_content")


def test_models_report_reasoning(client):
    meta = client.models.list().data[0].model_extra["meta"]
    assert meta["reasoning"] is True and meta["switchable"] is True


def test_off_prefills_closed_block_and_yields_no_reasoning(client):
    r = client.chat.completions.create(
        model="thinker", messages=ASK, max_tokens=24, temperature=0, reasoning_effort="none"
    )
    message = r.choices[0].message
    assert message.content and reasoning_of(message) is None
    assert "<think>" not in message.content and "</think>" not in message.content
    assert r.usage.completion_tokens_details.reasoning_tokens == 0


def test_small_budget_forces_end_marker_and_still_answers(client):
    args = dict(
        model="thinker",
        messages=ASK,
        max_tokens=48,
        temperature=0,
        extra_body={"think": True, "max_reasoning_tokens": 4},
    )
    r = client.chat.completions.create(**args)
    message = r.choices[0].message
    thinking = reasoning_of(message)
    assert thinking and message.content and message.content.strip()
    assert "</think>" not in message.content and "<think>" not in message.content
    assert 4 <= r.usage.completion_tokens_details.reasoning_tokens <= 4 + 8  # + </think>
    stream = client.chat.completions.create(**args, stream=True)
    parts: dict[str, str] = {"content": "", "reasoning_content": ""}
    for chunk in stream:
        for choice in chunk.choices:
            extra = choice.delta.model_extra or {}
            parts["content"] += choice.delta.content or ""
            parts["reasoning_content"] += extra.get("reasoning_content") or ""
    assert parts == {"content": message.content, "reasoning_content": thinking}


def test_end_of_generation_while_thinking_closes_the_block_instead(client):
    r = client.chat.completions.create(
        model="thinker", messages=ASK, max_tokens=64, temperature=0, reasoning_effort="high"
    )
    message = r.choices[0].message
    assert reasoning_of(message) and message.content.strip()


def test_thinking_never_eats_the_whole_answer(client):
    r = client.chat.completions.create(
        model="thinker",
        messages=ASK,
        max_tokens=40,
        temperature=0,
        reasoning_effort="high",
        extra_body={"ignore_eos": True},
    )
    message = r.choices[0].message
    assert reasoning_of(message) and message.content.strip()
    assert r.usage.completion_tokens == 40
