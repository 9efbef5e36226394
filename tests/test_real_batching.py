"""Continuous batching on the real model: concurrency, exactness, back-pressure, prefix reuse."""

from __future__ import annotations

import asyncio
import threading

import httpx
import openai
import pytest
from realserver import open_raw_post, running_server, smollm2_server

pytestmark = [pytest.mark.real, pytest.mark.anyio]
TOPICS = [
    "a lighthouse keeper",
    "how a bicycle works",
    "the printing press",
    "Lisbon",
    "why the sky is blue",
    "baking bread",
    "the moon landing",
    "a dragon and a knight",
]


def ask(topic: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Write a few sentences about {topic}."}]


@pytest.fixture(scope="module")
def server(model_path, tmp_path_factory):
    log = tmp_path_factory.mktemp("batching") / "freehold.log"
    with smollm2_server(model_path, log, "-c", "8192", "-np", "8") as srv:
        yield srv


async def stream_one(client: openai.AsyncOpenAI, topic: str, **kw) -> tuple[str, str, int]:
    stream = await client.chat.completions.create(
        model="smollm2",
        messages=ask(topic),
        max_tokens=64,
        stream=True,
        stream_options={"include_usage": True},
        **kw,
    )
    text, finish, tokens = "", "", 0
    async for chunk in stream:
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    return text, finish, tokens


@pytest.mark.timeout(900)  # 16 generations; slow only on a machine busy with other work
@pytest.mark.parametrize("sampling", [{"temperature": 0}, {"temperature": 0.9, "seed": 11}])
async def test_eight_streams_complete_and_equal_their_solo_runs(server, sampling):
    base = f"{server.base_url}/v1"
    async with openai.AsyncOpenAI(base_url=base, api_key="x", max_retries=0) as client:
        solo = [await stream_one(client, t, **sampling) for t in TOPICS]
        together = await asyncio.gather(*(stream_one(client, t, **sampling) for t in TOPICS))
    for (text, finish, tokens), alone in zip(together, solo, strict=True):
        assert text and finish in ("stop", "length") and tokens > 0
        assert (text, finish, tokens) == alone


def test_queue_overflow_is_429_with_retry_after(model_path, tmp_path):
    with running_server(
        ["-m", str(model_path), "-c", "2048", "-np", "1", "-t", "2", "--max-queue", "1"],
        tmp_path / "log",
    ) as srv:
        body = {"messages": ask("the sea"), "max_tokens": 200, "stream": True, "ignore_eos": True}
        url = f"{srv.base_url}/v1/chat/completions"
        with httpx.Client(timeout=120) as http, http.stream("POST", url, json=body) as running:
            assert running.status_code == 200
            queued_status: list[int] = []

            def queued() -> None:
                with httpx.stream("POST", url, json={**body, "max_tokens": 4}, timeout=120) as r:
                    queued_status.append(r.status_code)
                    r.read()

            waiter = threading.Thread(target=queued)
            waiter.start()
            assert _wait(lambda: srv.busy() == 2), "the second request never reached the queue"
            refused = http.post(url, json={**body, "stream": False})
            running.close()
            waiter.join(timeout=120)
        assert refused.status_code == 429 and refused.headers["retry-after"]
        assert refused.json()["error"]["type"] == "rate_limit_error"
        assert queued_status == [200]
        assert srv.wait_idle()


def test_disconnect_of_queued_and_running_streams(model_path, tmp_path):
    with running_server(
        ["-m", str(model_path), "-c", "2048", "-np", "1", "-t", "2"], tmp_path / "log"
    ) as srv:
        url = f"{srv.base_url}/v1/chat/completions"
        body = {"messages": ask("the sea"), "max_tokens": 400, "stream": True, "ignore_eos": True}
        with httpx.Client(timeout=60) as a, a.stream("POST", url, json=body) as running:
            lines = running.iter_lines()  # keep it: a dropped iterator closes the stream
            next(lines)
            queued = open_raw_post(srv.base_url, "/v1/chat/completions", body)
            assert _wait(lambda: srv.busy() == 2)
            queued.close()  # leaves the queue before it ever got a slot
            assert _wait(lambda: srv.busy() == 1), "the queued request stayed queued"
        assert srv.wait_idle(), "the running stream's slot was not freed"
        ok = httpx.post(url, json={**body, "stream": False, "max_tokens": 5}, timeout=60)
        assert ok.status_code == 200 and ok.json()["usage"]["completion_tokens"] == 5


def test_second_chat_turn_reuses_cached_prefix_with_same_answer(server, model_path, tmp_path):
    client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="x", max_retries=0)
    first = ask("a lighthouse keeper")
    r1 = client.chat.completions.create(
        model="smollm2", messages=first, max_tokens=32, temperature=0
    )
    turn2 = [
        *first,
        {"role": "assistant", "content": r1.choices[0].message.content},
        {"role": "user", "content": "Now make it shorter."},
    ]
    cached = client.chat.completions.create(
        model="smollm2", messages=turn2, max_tokens=32, temperature=0
    )
    assert cached.usage.prompt_tokens_details.cached_tokens > r1.usage.prompt_tokens // 2
    with running_server(
        ["-m", str(model_path), "-c", "2048", "-np", "1", "-t", "2"], tmp_path / "log"
    ) as fresh:
        cold_client = openai.OpenAI(base_url=f"{fresh.base_url}/v1", api_key="x")
        cold = cold_client.chat.completions.create(
            model=fresh_model(fresh), messages=turn2, max_tokens=32, temperature=0
        )
    assert cold.usage.prompt_tokens_details.cached_tokens == 0
    assert cached.choices[0].message.content == cold.choices[0].message.content


# ~150 tokens: prompt and answer stay under 256 KV cells. From 512 cells on, a sequence
# decoding alone takes ggml's split-KV flash-attention path when llama.cpp runs more than
# one thread (ops.cpp: one query row, one stream, nek1 >= 512), whose partial sums differ
# from the one-pass path used in company, so alone and together may differ there, with
# or without prefix sharing (seen here with ~590-cell greedy chats, sharing off too).
SYSTEM_PROMPT = " ".join(
    f"Rule {i}: answer plainly, name the {topic}, and keep to facts you are sure of."
    for i, topic in enumerate(TOPICS)
)


async def chat_usage(
    client: openai.AsyncOpenAI, topic: str, model: str = "smollm2"
) -> tuple[str, int, int]:
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, *ask(topic)]
    r = await client.chat.completions.create(
        model=model, messages=messages, max_tokens=16, temperature=0
    )
    cached = r.usage.prompt_tokens_details.cached_tokens
    return r.choices[0].message.content, r.usage.prompt_tokens, cached


@pytest.mark.timeout(900)
async def test_concurrent_chats_share_one_system_prompt_and_equal_their_solo_runs(server):
    async with openai.AsyncOpenAI(
        base_url=f"{server.base_url}/v1", api_key="x", max_retries=0
    ) as client:
        together = await asyncio.gather(*(chat_usage(client, t) for t in TOPICS))
        solo = [await chat_usage(client, t) for t in TOPICS]
    prompt_tokens = min(n for _, n, _ in together)
    assert 150 < prompt_tokens < 256 - 16
    # one chat computed the system prompt; the others started from a copy of its KV cells
    shared = sorted(cached for _, _, cached in together)
    assert shared[0] < prompt_tokens // 2 and all(c > prompt_tokens * 3 // 4 for c in shared[1:])
    assert [text for text, _, _ in together] == [text for text, _, _ in solo]


def fresh_model(srv) -> str:
    return httpx.get(f"{srv.base_url}/v1/models").json()["data"][0]["id"]


def _wait(condition, tries: int = 600) -> bool:
    """Poll a server-side condition (bounded: tries × 50 ms)."""
    import time

    for _ in range(tries):
        if condition():
            return True
        time.sleep(0.05)
    return False
