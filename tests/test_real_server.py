"""The real tier: freehold on SmolLM2-135M, driven over HTTP by the official openai client."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest
from openapi import validate
from realserver import smollm2_server

pytestmark = [pytest.mark.real, pytest.mark.anyio]
STORY = [{"role": "user", "content": "Tell me a story about a lighthouse keeper."}]


@pytest.fixture(scope="module")
def server(model_path, tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "freehold.log"
    with smollm2_server(model_path, log, "-c", "4096", "-np", "4") as srv:
        yield srv


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="unused", max_retries=0)


@pytest.fixture
async def aclient(server):
    base = f"{server.base_url}/v1"
    async with openai.AsyncOpenAI(base_url=base, api_key="unused", max_retries=0) as client:
        yield client  # closed in the test's own event loop


def test_models_and_health(client, server):
    models = client.models.list()
    assert [m.id for m in models.data] == ["smollm2"]
    raw = httpx.get(f"{server.base_url}/v1/models").json()
    validate("ListModelsResponse", raw)
    meta = raw["data"][0]["meta"]
    assert meta["architecture"] == "llama" and meta["context_length"] == 8192
    assert meta["quantization"] == "Q4_1" and meta["slot_context"] == 1024
    assert client.models.retrieve("smollm2").id == "smollm2"
    assert server.health().json()["status"] == "ok"


def test_chat_greedy(client):
    r = client.chat.completions.create(
        model="smollm2", messages=STORY, max_tokens=24, temperature=0
    )
    validate("CreateChatCompletionResponse", r.model_dump(exclude_unset=True))
    assert r.choices[0].message.content.strip()
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 24
    assert r.usage.total_tokens == r.usage.prompt_tokens + 24


def test_stream_with_usage_matches_non_stream(client):
    args = dict(model="smollm2", messages=STORY, max_tokens=32, temperature=0)
    whole = client.chat.completions.create(**args)
    chunks = list(
        client.chat.completions.create(**args, stream=True, stream_options={"include_usage": True})
    )
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.model_dump(exclude_unset=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage
    assert chunks[-2].choices[0].finish_reason == "length"


def test_prompt_token_count_is_exact(client, server, model_path):
    from llama_cpp import Llama

    from freehold.chat.template import render

    vocab = Llama(str(model_path), vocab_only=True, verbose=False)
    info = httpx.get(f"{server.base_url}/v1/models").json()["data"][0]
    assert info["meta"]["chat_template"]
    template = vocab.metadata["tokenizer.chat_template"]
    prompt = render(template, STORY, add_generation_prompt=True)
    expected = len(vocab.tokenize(prompt.encode(), add_bos=False, special=True))
    r = client.chat.completions.create(model="smollm2", messages=STORY, max_tokens=1)
    assert r.usage.prompt_tokens == expected


def test_completions_plain_and_stream(client):
    r = client.completions.create(
        model="smollm2", prompt="The capital of France is", max_tokens=8, temperature=0
    )
    validate("CreateCompletionResponse", r.model_dump(exclude_unset=True))
    stream = client.completions.create(
        model="smollm2", prompt="The capital of France is", max_tokens=8, temperature=0, stream=True
    )
    assert "".join(c.choices[0].text for c in stream) == r.choices[0].text
    assert r.usage.completion_tokens <= 8


def test_seed_gives_same_text(client):
    args = dict(model="smollm2", messages=STORY, max_tokens=24, temperature=1.0)
    a = client.chat.completions.create(**args, seed=1234).choices[0].message.content
    b = client.chat.completions.create(**args, seed=1234).choices[0].message.content
    others = {
        client.chat.completions.create(**args, seed=s).choices[0].message.content for s in (1, 2, 3)
    }
    assert a == b
    assert len(others | {a}) > 1, "different seeds should not all give the same text"


def test_stop_string_is_cut_and_not_returned(client):
    args = dict(model="smollm2", messages=STORY, max_tokens=40, temperature=0)
    full = client.chat.completions.create(**args).choices[0].message.content
    words = full.split()
    stop = words[len(words) // 2]
    cut = full[: full.index(stop)]
    r = client.chat.completions.create(**args, stop=[stop])
    assert r.choices[0].message.content == cut and r.choices[0].finish_reason == "stop"
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(**args, stop=stop, stream=True)
        if c.choices
    )
    assert streamed == cut


def test_context_overflow_is_400_and_server_still_answers(client):
    long = [{"role": "user", "content": "lighthouse " * 1500}]
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="smollm2", messages=long, max_tokens=4)
    err = info.value.body
    assert err["code"] == "context_length_exceeded" and "1024" in err["message"]
    ok = client.chat.completions.create(model="smollm2", messages=STORY, max_tokens=4)
    assert ok.choices[0].finish_reason == "length"


def test_max_tokens_beyond_context_is_clipped_to_length(client):
    r = client.completions.create(
        model="smollm2",
        prompt="word " * 1000,
        max_tokens=500,
        temperature=0,
        extra_body={"ignore_eos": True},
    )
    assert r.choices[0].finish_reason == "length"
    assert r.usage.prompt_tokens + r.usage.completion_tokens == 1024


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-4o", messages=STORY)
    assert info.value.body["code"] == "model_not_found"


async def test_four_concurrent_streams_complete(aclient):
    async def one(i: int) -> tuple[str, str | None]:
        stream = await aclient.chat.completions.create(
            model="smollm2", messages=STORY, max_tokens=48, temperature=0.7, seed=i, stream=True
        )
        text, finish = "", None
        async for chunk in stream:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        return text, finish

    results = await asyncio.gather(*(one(i) for i in range(4)))
    assert all(text and finish in ("stop", "length") for text, finish in results)


def test_client_disconnect_frees_slot_and_next_request_is_fine(server, client):
    body = {"model": "smollm2", "messages": STORY, "max_tokens": 400, "stream": True, "extra": None}
    body.pop("extra")
    with httpx.stream("POST", f"{server.base_url}/v1/chat/completions", json=body, timeout=60) as r:
        lines = r.iter_lines()
        got = [next(lines) for _ in range(6)]
    assert any(line.startswith("data:") for line in got)
    assert server.wait_idle(), "the disconnected stream's slot was not freed"
    r = client.chat.completions.create(model="smollm2", messages=STORY, max_tokens=8)
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 8
