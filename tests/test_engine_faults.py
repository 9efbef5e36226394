"""The API over the real LlamaEngine and Scheduler, with a fake llama.cpp: what a client
sees when a step fails, when the scheduler thread dies, and at shutdown."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from fake_llama import ALWAYS, serve_engine

pytestmark = pytest.mark.anyio
CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]


def data_lines(text: str) -> list[str]:
    return [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]


async def test_a_failing_step_is_a_500_body_and_the_server_goes_on():
    async with serve_engine(reply=b"hello", fail_at={"sample": {1}}) as served:
        client, engine = served.client, served.engine
        failed = await client.post(CHAT, json={"messages": HI})
        after = await client.post(CHAT, json={"messages": HI})
        health = await client.get("/health")
    assert failed.status_code == 500
    assert failed.json()["error"]["type"] == "server_error"
    assert failed.json()["error"]["code"] == "internal_error"
    assert after.status_code == 200
    assert after.json()["choices"][0]["message"]["content"] == "hello"
    assert health.status_code == 200 and engine.failure is None


async def test_a_step_failing_mid_stream_ends_it_with_an_error_event():
    body = {"messages": HI, "stream": True}
    async with serve_engine(reply=b"hello", fail_at={"sample": {3}}) as served:
        client = served.client
        r = await client.post(CHAT, json=body)
    lines = data_lines(r.text)
    assert r.status_code == 200
    content = "".join(json.loads(x)["choices"][0]["delta"].get("content", "") for x in lines[:-1])
    assert content == "he"
    assert json.loads(lines[-1])["error"]["code"] == "internal_error"


async def test_a_dead_scheduler_turns_health_503_with_the_reason():
    faults = {"sample": ALWAYS, "free_sampler": ALWAYS}
    async with serve_engine(fail_at=faults) as served:
        client, engine = served.client, served.engine
        first = await client.post(CHAT, json={"messages": HI})
        for _ in range(1000):  # the first error is sent before the thread has died
            if engine.failure is not None:
                break
            await asyncio.sleep(0.01)
        health = await client.get("/health")
        later = await client.post(CHAT, json={"messages": HI})
    assert first.status_code == 500 and first.json()["error"]["type"] == "server_error"
    assert health.status_code == 503 and health.json()["status"] == "failed"
    assert "InjectedFault" in health.json()["error"]["message"]
    assert later.status_code == 503 and later.json()["error"]["code"] == "engine_failed"
    assert engine.load()["inflight"] == 0


async def test_stop_answers_waiting_requests_and_frees_llama_only_after_the_thread():
    hold = threading.Event()
    async with serve_engine(slots=1, stop_timeout=0.05, hold_decode=hold) as served:
        client, engine, backend = served.client, served.engine, served.backend
        running = asyncio.create_task(client.post(CHAT, json={"messages": HI}))
        assert await asyncio.to_thread(backend.decode_entered.wait, 10)
        waiting = asyncio.create_task(client.post(CHAT, json={"messages": HI}))
        for _ in range(1000):  # until the scheduler counts it
            if engine.load()["inflight"] == 2:
                break
            await asyncio.sleep(0.01)
        await engine.stop()  # the thread is held inside decode: stop gives up after 50 ms
        assert backend.closed_while_decoding is None, "llama.cpp was not freed"
        hold.set()
        answers = await asyncio.wait_for(asyncio.gather(running, waiting), 10)
    assert [a.status_code for a in answers] == [503, 503]
    assert {a.json()["error"]["code"] for a in answers} == {"shutting_down"}
