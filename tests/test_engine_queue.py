"""The event loop stays free while a request is prepared and while it waits: tokenizing
and template rendering run off the loop, a prompt that cannot fit is refused by its byte
length before it is tokenized, and a queued stream starts (headers, role chunk) at once."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import replace
from typing import Any

import pytest
from fake_llama import serve_engine

from freehold.engine.fake import FakeEngine

pytestmark = pytest.mark.anyio
CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]
# about two million template loop turns: most of a second of pure Python
HEAVY_TEMPLATE = (
    "{% for i in range(100000) %}{% for j in range(20) %}{% endfor %}{% endfor %}"
    "{% for m in messages %}{{ m.content }}{% endfor %}"
)


async def test_tokenizing_runs_off_the_event_loop():
    gate = threading.Event()
    async with serve_engine(tokenize_gate=gate) as served:
        chat = asyncio.create_task(served.client.post(CHAT, json={"messages": HI}))
        assert await asyncio.to_thread(served.backend.tokenizing.wait, 10)
        health = await served.client.get("/health")
        done_during_health = served.backend.tokenized
        gate.set()
        answer = await asyncio.wait_for(chat, 10)
    assert health.status_code == 200 and done_during_health == 0
    assert answer.status_code == 200


async def test_a_prompt_too_long_in_bytes_is_refused_without_tokenizing():
    long = [{"role": "user", "content": "x" * 5000}]  # 1,024 tokens a slot, ≤ 1 byte a token
    async with serve_engine() as served:
        r = await served.client.post(CHAT, json={"messages": long, "stream": True})
        calls = served.backend.calls["tokenize"]
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"
    assert "bytes" in r.json()["error"]["message"] and calls == 0


async def test_a_heavy_chat_template_does_not_freeze_the_event_loop(fake):
    engine = FakeEngine(info=replace(FakeEngine().info, chat_template=HEAVY_TEMPLATE))
    gaps: list[float] = []
    async with fake(engine) as (client, _):
        chat = asyncio.create_task(client.post(CHAT, json={"messages": HI}))
        began = last = time.perf_counter()
        while not chat.done():  # the loop's heartbeat while the template renders
            await asyncio.sleep(0)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
        took = time.perf_counter() - began
        assert chat.result().status_code == 200
    assert max(gaps) < took / 3, f"the loop stood still {max(gaps):.3f} s of {took:.3f} s"


def _asgi_post(app: Any, path: str, body: dict[str, Any]) -> tuple[asyncio.Task, list[Any]]:
    """POST straight to the ASGI app, recording every message it sends (httpx's
    ASGITransport only returns once a response is complete)."""
    sent: list[Any] = []
    payload = [{"type": "http.request", "body": json.dumps(body).encode()}]
    never = asyncio.Event()

    async def receive() -> Any:
        if payload:
            return payload.pop()
        await never.wait()

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"host", b"test")],
        "client": ("127.0.0.1", 9),
        "server": ("test", 80),
    }
    return asyncio.create_task(app(scope, receive, send)), sent


def _body(sent: list[Any]) -> bytes:
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def test_a_queued_stream_sends_headers_and_its_role_chunk_at_once():
    hold = threading.Event()
    async with serve_engine(slots=1, hold_decode=hold) as served:
        running = asyncio.create_task(served.client.post(CHAT, json={"messages": HI}))
        assert await asyncio.to_thread(served.backend.decode_entered.wait, 10)
        queued, sent = _asgi_post(served.app, CHAT, {"messages": HI, "stream": True})
        for _ in range(1000):
            if b"assistant" in _body(sent):
                break
            await asyncio.sleep(0.01)
        load = served.engine.load()
        started = [m for m in sent if m["type"] == "http.response.start"]
        first = _body(sent)
        hold.set()
        await asyncio.wait_for(queued, 10)
        assert (await asyncio.wait_for(running, 10)).status_code == 200
    assert load == {"slots": 1, "busy": 1, "inflight": 2}, "the stream was still queued"
    assert started and started[0]["status"] == 200
    assert b'"role":"assistant"' in first and b"hello" not in first
    assert _body(sent).rstrip().endswith(b"data: [DONE]")


async def test_a_stream_refused_for_a_full_queue_still_gets_429():
    hold = threading.Event()
    async with serve_engine(slots=1, max_queue=0, hold_decode=hold) as served:
        running = asyncio.create_task(served.client.post(CHAT, json={"messages": HI}))
        assert await asyncio.to_thread(served.backend.decode_entered.wait, 10)
        refused = await served.client.post(CHAT, json={"messages": HI, "stream": True})
        hold.set()
        assert (await asyncio.wait_for(running, 10)).status_code == 200
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "queue_full"
