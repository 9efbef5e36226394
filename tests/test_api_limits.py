"""Input the server must refuse cleanly (never a 500): oversized bodies however they are
sent, odd API keys, logit_bias keys and values, out-of-range sampling values."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from freehold.engine.fake import FakeEngine

pytestmark = pytest.mark.anyio
CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]


async def test_a_chunked_body_over_the_limit_gets_413_before_it_is_read_whole(fake):
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        yield b'{"messages": [{"role": "user", "content": "'
        for i in range(64):
            sent.append(i)
            yield b"x" * 1024
        yield b'"}]}'

    async with fake(max_body_bytes=8192) as (client, _):
        r = await client.post(CHAT, content=chunks(), headers={"content-type": "application/json"})
        ok = await client.post(CHAT, json={"messages": HI})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    assert len(sent) <= 9, "reading stopped once the limit was passed"
    assert ok.status_code == 200


async def test_a_chunked_body_under_the_limit_is_served(fake):
    body = json.dumps({"messages": HI}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 5):
            yield body[i : i + 5]

    async with fake(max_body_bytes=2048) as (client, _):
        r = await client.post(CHAT, content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"] == "Hello, world!"


async def test_a_non_ascii_api_key_gets_401_not_500(fake):
    async with fake(api_key=["k1"]) as (client, _):
        odd = await client.get("/v1/models", headers={"authorization": b"Bearer caf\xc3\xa9"})
        latin = await client.get("/v1/models", headers={"x-api-key": b"\xff\xfe"})
        good = await client.get("/v1/models", headers={"authorization": "Bearer k1"})
    assert (odd.status_code, latin.status_code, good.status_code) == (401, 401, 200)
    assert odd.json()["error"]["code"] == "invalid_api_key"


async def test_a_non_ascii_configured_key_matches_its_utf8_bytes(fake):
    async with fake(api_key=["clé"]) as (client, _):
        r = await client.get("/v1/models", headers={"authorization": "Bearer clé".encode()})
    assert r.status_code == 200


BAD_BIAS = [{"²": 1}, {"-5": 1}, {"1.5": 1}, {"": 1}, {"7": 101}, {"7": -100.5}]


@pytest.mark.parametrize("bias", BAD_BIAS, ids=str)
async def test_bad_logit_bias_gets_400(fake, bias):
    async with fake() as (client, _):
        r = await client.post(CHAT, json={"messages": HI, "logit_bias": bias})
    assert r.status_code == 400 and r.json()["error"]["param"] == "logit_bias"


async def test_a_logit_bias_token_beyond_the_vocabulary_gets_400(fake):
    engine = FakeEngine(info=replace(FakeEngine().info, n_vocab=1000))
    async with fake(engine) as (client, _):
        r = await client.post(CHAT, json={"messages": HI, "logit_bias": {"1000": 1}})
    assert r.status_code == 400 and "below 1000" in r.json()["error"]["message"]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
async def test_non_finite_logit_bias_gets_400(fake, value):
    body = '{"messages": [{"role": "user", "content": "hi"}], "logit_bias": {"7": VALUE}}'
    body = body.replace("VALUE", value)
    async with fake() as (client, _):
        r = await client.post(CHAT, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "logit_bias"


async def test_good_logit_bias_reaches_the_engine(fake):
    engine = FakeEngine(info=replace(FakeEngine().info, n_vocab=1000))
    async with fake(engine) as (client, _):
        r = await client.post(CHAT, json={"messages": HI, "logit_bias": {"7": -100, "999": 5}})
    assert r.status_code == 200
    assert engine.requests[-1].sampling.logit_bias == {7: -100, 999: 5}


async def test_seed_minus_one_means_random_and_out_of_range_values_get_400(fake):
    async with fake() as (client, engine):
        random = await client.post(CHAT, json={"messages": HI, "seed": -1})
        seed = engine.requests[-1].sampling.seed
        below = await client.post(CHAT, json={"messages": HI, "seed": -2})
        huge_k = await client.post(CHAT, json={"messages": HI, "top_k": 2**40})
    assert random.status_code == 200 and seed is None
    assert below.status_code == 400 and below.json()["error"]["param"] == "seed"
    assert huge_k.status_code == 400 and huge_k.json()["error"]["param"] == "top_k"
