"""What the server tells: metrics name refused and failed requests as such, /health
shows no file system path, an empty prompt is called empty, `freehold serve` reports a
user error in one line."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from fake_llama import serve_engine

from freehold.cli import main
from freehold.engine.fake import FakeEngine

pytestmark = pytest.mark.anyio
CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]


async def test_metrics_count_refusals_and_failures_apart_from_cancellations(fake):
    async with fake() as (client, _):
        long = [{"role": "user", "content": "word " * 300}]  # 256 tokens a slot
        refused = await client.post(CHAT, json={"messages": long})
        text = (await client.get("/metrics")).text
    assert refused.status_code == 400
    assert 'freehold_requests_total{endpoint="chat",finish="refused"} 1.0' in text
    assert 'finish="cancelled"' not in text


async def test_metrics_count_a_failed_generation_as_error():
    async with serve_engine(fail_at={"sample": {1}}) as served:
        failed = await served.client.post(CHAT, json={"messages": HI})
        text = (await served.client.get("/metrics")).text
    assert failed.status_code == 500
    assert 'freehold_requests_total{endpoint="chat",finish="error"} 1.0' in text


async def test_health_shows_no_file_system_path(fake):
    engine = FakeEngine(info=replace(FakeEngine().info, path="/home/me/secret/model.gguf"))
    async with fake(engine, api_key=["k"]) as (client, _):
        health = await client.get("/health")
        card = await client.get("/v1/models/fake-model", headers={"authorization": "Bearer k"})
    assert health.status_code == 200 and "secret" not in health.text
    assert card.json()["meta"]["path"] == "/home/me/secret/model.gguf"  # behind the key


async def test_an_empty_prompt_is_called_empty():
    async with serve_engine() as served:
        r = await served.client.post("/v1/completions", json={"prompt": ""})
    assert r.status_code == 400 and r.json()["error"]["code"] == "empty_prompt"
    assert "shorten" not in r.json()["error"]["message"]


def test_serve_reports_a_missing_model_in_one_line(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("FREEHOLD_MODELS_DIR", str(tmp_path / "store"))
    status = main(["serve", "--offline", "--model", "nobody/nothing-GGUF:Q4_K_M"])
    err = capsys.readouterr().err
    assert status == 1 and "Traceback" not in err
    assert err.startswith("error: ") and "nobody/nothing-GGUF:Q4_K_M" in err
