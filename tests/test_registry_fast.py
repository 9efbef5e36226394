"""The model registry over FakeEngines: listing, load on demand, eviction, keep-alive,
aliases, memory budget, waiting for room."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from freehold.api import create_app
from freehold.config import Settings
from freehold.engine.fake import FakeEngine
from freehold.engine.registry import Limits, ModelSpec, Registry
from freehold.engine.types import ModelInfo

pytestmark = pytest.mark.anyio
CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]


class Factory:
    """Builds one FakeEngine per load, answering with its model's id; counts loads."""

    def __init__(self, fail: str | None = None) -> None:
        self.loads: list[str] = []
        self.engines: dict[str, FakeEngine] = {}
        self.fail = fail

    def __call__(self, spec: ModelSpec) -> FakeEngine:
        self.loads.append(spec.id)
        info = ModelInfo(id=spec.id, n_ctx_slot=256, context_length=1024, architecture="fake")
        engine = FakeEngine(script=[f"I am {spec.id}"], info=info)
        if spec.id == self.fail:
            engine.gate = asyncio.Event()  # never set: replaced by a failing start below

            async def broken() -> None:
                raise RuntimeError("no such file")

            engine.start = broken  # type: ignore[method-assign]
        self.engines[spec.id] = engine
        return engine


def registry(factory: Factory, *ids: str, **limits: Any) -> Registry:
    specs = [ModelSpec(i, memory=100, keep_alive=300) for i in ids]
    return Registry(specs, factory, Limits(**limits), aliases={"gpt-4o-mini": ids[-1]})


@asynccontextmanager
async def serve(reg: Registry) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(), reg)
    async with app.router.lifespan_context(app):
        for _ in range(100):
            if reg.started:
                break
            await asyncio.sleep(0)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def statuses(listing: dict[str, Any]) -> dict[str, str]:
    return {card["id"]: card["status"] for card in listing["data"]}


async def ask(client: httpx.AsyncClient, model: str, **extra: Any) -> httpx.Response:
    return await client.post(CHAT, json={"model": model, "messages": HI, **extra})


async def test_lists_every_model_and_loads_on_demand() -> None:
    factory = Factory()
    async with serve(registry(factory, "a", "b")) as client:
        before = statuses((await client.get("/v1/models")).json())
        answer = await ask(client, "b")
        after = statuses((await client.get("/v1/models")).json())
        unknown = await ask(client, "c")
        metrics = (await client.get("/metrics")).text
    assert before == {"a": "loaded", "b": "unloaded"}
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == "b"
    assert answer.json()["choices"][0]["message"]["content"] == "I am b"
    assert after == {"a": "loaded", "b": "loaded"}
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    assert factory.loads == ["a", "b"]
    assert "freehold_models_loaded 2.0" in metrics and "freehold_models_loading 0.0" in metrics


async def test_max_loaded_evicts_the_least_recently_used_idle_model() -> None:
    factory = Factory()
    async with serve(registry(factory, "a", "b", "c", max_loaded=2)) as client:
        await ask(client, "b")
        await ask(client, "a")  # a is now more recent than b
        await ask(client, "c")
        listing = statuses((await client.get("/v1/models")).json())
    assert listing == {"a": "loaded", "b": "unloaded", "c": "loaded"}
    assert factory.engines["b"].ready is False


async def test_keep_alive_zero_unloads_after_the_request() -> None:
    factory = Factory()
    reg = registry(factory, "a", "b")
    async with serve(reg) as client:
        answer = await ask(client, "b", keep_alive=0)
        await reg.settle(reg.resolve("b"))
        listing = statuses((await client.get("/v1/models")).json())
        again = await ask(client, "b", keep_alive="5m")
        kept = reg.resolve("b")
    assert answer.status_code == 200
    assert listing["b"] == "unloaded"
    assert again.status_code == 200 and kept.status == "loaded" and kept.keep_alive == 300
    assert factory.loads == ["a", "b", "b"]


async def test_alias_reaches_its_model_and_is_listed() -> None:
    factory = Factory()
    async with serve(registry(factory, "a", "b")) as client:
        answer = await ask(client, "gpt-4o-mini")
        card = (await client.get("/v1/models/gpt-4o-mini")).json()
    assert answer.json()["choices"][0]["message"]["content"] == "I am b"
    assert card["id"] == "b" and "gpt-4o-mini" in card["meta"]["aliases"]


async def test_a_model_over_the_budget_is_refused_before_any_load() -> None:
    factory = Factory()
    specs = [ModelSpec("a", memory=100), ModelSpec("huge", memory=5 << 30)]
    reg = Registry(specs, factory, Limits(memory_budget=1 << 30))
    async with serve(reg) as client:
        refused = await ask(client, "huge")
    assert refused.status_code == 507
    error = refused.json()["error"]
    assert error["code"] == "model_too_large" and "5.00 GiB" in error["message"]
    assert "1.00 GiB" in error["message"]
    assert factory.loads == ["a"]


async def test_a_load_failure_is_a_503_and_the_server_keeps_serving() -> None:
    factory = Factory(fail="b")
    async with serve(registry(factory, "a", "b")) as client:
        failed = await ask(client, "b")
        served = await ask(client, "a")
    assert failed.status_code == 503
    assert failed.json()["error"]["code"] == "model_load_failed"
    assert "no such file" in failed.json()["error"]["message"]
    assert served.status_code == 200


async def test_a_request_waits_for_a_busy_model_then_loads_its_own() -> None:
    factory = Factory()
    reg = registry(factory, "a", "b", max_loaded=1)
    await reg.start()
    a, b = reg.resolve("a"), reg.resolve("b")
    held = await reg.acquire(a)  # a request streaming on a
    waiting = asyncio.create_task(reg.acquire(b))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not waiting.done() and b.status == "unloaded" and a.status == "loaded"
    reg.release(a, None)
    engine = await asyncio.wait_for(waiting, 5)
    assert engine is not held and a.status == "unloaded" and b.status == "loaded"
    reg.release(b, None)
    await reg.stop()


async def test_the_wait_for_room_is_bounded() -> None:
    factory = Factory()
    reg = registry(factory, "a", "b", max_loaded=1, max_waiting=0)
    await reg.start()
    await reg.acquire(reg.resolve("a"))
    with pytest.raises(Exception) as refused:
        await reg.acquire(reg.resolve("b"))
    assert getattr(refused.value, "status", None) == 429
    assert reg.resolve("b").users == 0
    await reg.stop()
