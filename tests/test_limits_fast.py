"""Time limits and CORS, in process over the FakeEngine."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest

from freehold.engine.fake import FakeEngine

pytestmark = pytest.mark.anyio
CHAT = "/v1/chat/completions"
HI = {"messages": [{"role": "user", "content": "hi"}]}
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


def slow_engine(**kw) -> FakeEngine:
    """500 pieces of 10 ms each: 5 s of output unless a limit ends it first."""
    engine = FakeEngine(script=["tok "] * 500, eos=False, delay=0.01, **kw)
    engine.info = replace(engine.info, n_ctx_slot=10_000)
    return engine


async def test_request_timeout_ends_generation_with_length(fake):
    async with fake(slow_engine(request_timeout=0.3)) as (client, _):
        r = await client.post(CHAT, json=HI)
    body = r.json()
    assert r.status_code == 200 and body["choices"][0]["finish_reason"] == "length"
    assert 5 < body["usage"]["completion_tokens"] < 200
    assert body["choices"][0]["message"]["content"].startswith("tok tok")


async def test_request_timeout_ends_a_stream_with_length_and_done(fake):
    async with fake(slow_engine(request_timeout=0.3)) as (client, _):
        r = await client.post(CHAT, json={**HI, "stream": True})
    lines = [line for line in r.text.splitlines() if line.startswith("data:")]
    assert lines[-1] == "data: [DONE]"
    assert json.loads(lines[-2][5:])["choices"][0]["finish_reason"] == "length"
    assert len(lines) < 200


async def test_per_request_limit_is_t_max_predict_ms_and_cannot_exceed_the_server(fake):
    async with fake(slow_engine(request_timeout=0.3)) as (client, engine):
        short = await client.post(CHAT, json={**HI, "t_max_predict_ms": 100})
        capped = await client.post(CHAT, json={**HI, "t_max_predict_ms": 60_000})
        bad = await client.post(CHAT, json={**HI, "t_max_predict_ms": 0})
    assert short.json()["usage"]["completion_tokens"] < 30  # 100 ms of 10 ms pieces
    assert capped.json()["usage"]["completion_tokens"] < 200  # the server's 0.3 s holds
    assert engine.requests[0].timeout == 0.1
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "t_max_predict_ms"


async def test_without_a_limit_the_generation_runs_to_its_end(fake):
    engine = FakeEngine(script=["tok "] * 50, delay=0.001)
    async with fake(engine) as (client, _):
        r = await client.post(CHAT, json=HI)
    assert r.json()["choices"][0]["finish_reason"] == "stop"
    assert r.json()["usage"]["completion_tokens"] == 50


async def test_no_cors_by_default(fake):
    async with fake() as (client, _):
        pre = await client.options(CHAT, headers={"Origin": "https://a.example", **PREFLIGHT})
        r = await client.post(CHAT, json=HI, headers={"Origin": "https://a.example"})
    assert "access-control-allow-origin" not in pre.headers
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


async def test_cors_preflight_and_response_for_a_listed_origin(fake):
    origin = {"Origin": "https://app.example"}
    async with fake(cors_origins=["https://app.example"], api_key=["k"]) as (client, _):
        pre = await client.options(CHAT, headers={**origin, **PREFLIGHT})
        other = await client.options(CHAT, headers={"Origin": "https://evil.example", **PREFLIGHT})
        ok = await client.post(CHAT, json=HI, headers={**origin, "Authorization": "Bearer k"})
        denied = await client.post(CHAT, json=HI, headers=origin)
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == "https://app.example"
    assert "authorization" in pre.headers["access-control-allow-headers"].lower()
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://app.example"
    assert "retry-after" in ok.headers["access-control-expose-headers"].lower()
    # a browser can read the 401 too, instead of an opaque CORS failure
    assert denied.status_code == 401
    assert denied.headers["access-control-allow-origin"] == "https://app.example"


async def test_cors_star_allows_any_origin(fake):
    async with fake(cors_origins=["*"]) as (client, _):
        pre = await client.options(CHAT, headers={"Origin": "https://x.example", **PREFLIGHT})
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "*"


async def test_same_origin_page_works_whatever_the_cors_list(fake):
    # a page served by the server itself sends its own origin; no preflight is involved
    for origins in ([], ["https://app.example"]):
        async with fake(cors_origins=origins) as (client, _):
            r = await client.post(CHAT, json=HI, headers={"Origin": "http://test"})
        assert r.status_code == 200


async def until_inflight(engine: FakeEngine, n: int) -> None:
    for _ in range(1000):  # bounded: until n requests reached the engine
        if engine.load()["inflight"] == n:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"{engine.load()} never had {n} in flight")


async def test_the_per_request_limit_counts_from_admission_not_the_queue(fake):
    async with fake(slow_engine(slots=1, request_timeout=0.6)) as (client, engine):
        running = asyncio.create_task(client.post(CHAT, json=HI))
        await until_inflight(engine, 1)
        # waits about 0.6 s for the slot, longer than its own 0.1 s: still served
        queued = await client.post(CHAT, json={**HI, "t_max_predict_ms": 100})
        first = await running
    assert first.json()["choices"][0]["finish_reason"] == "length"
    assert queued.status_code == 200
    assert queued.json()["choices"][0]["finish_reason"] == "length"
    assert 0 < queued.json()["usage"]["completion_tokens"] < 30


async def test_drain_ends_running_requests_with_length_and_refuses_queued_ones(fake):
    async with fake(slow_engine(slots=1)) as (client, engine):
        running = asyncio.create_task(client.post(CHAT, json=HI))
        queued = asyncio.create_task(client.post(CHAT, json=HI))
        await until_inflight(engine, 2)
        engine.drain(0.2)
        first, second = await running, await queued
    assert first.status_code == 200
    assert first.json()["choices"][0]["finish_reason"] == "length"
    assert first.json()["usage"]["completion_tokens"] < 200
    assert second.status_code == 503 and second.json()["error"]["code"] == "shutting_down"
