"""Several models, fast tier: LoRA choices per request and their grouping in the scheduler,
/api/ps and /api/unload, the model lineup from settings, and `freehold ps`'s table."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from test_registry_fast import CHAT, HI, Factory, serve

from freehold.config import Settings
from freehold.engine.fake import FakeEngine
from freehold.engine.lora import Adapter
from freehold.engine.registry import ModelSpec, Registry
from freehold.models import lineup
from freehold.models.ps_cli import format_table

pytestmark = pytest.mark.anyio
PIRATE = Adapter("pirate", Path("/a/pirate.gguf"), 0.5)
POET = Adapter("poet", Path("/a/poet.gguf"), 1.0)


def with_adapters(engine: FakeEngine) -> Registry:
    spec = ModelSpec("fake-model", adapters=(PIRATE, POET), keep_alive=None)
    registry = Registry([spec], lambda _spec: engine)
    registry.default.info = engine.info
    return registry


async def test_adapter_ids_and_lora_lists_reach_the_engine_as_one_choice() -> None:
    engine = FakeEngine()
    async with serve(with_adapters(engine)) as client:
        named = await client.post(CHAT, json={"model": "fake-model:pirate", "messages": HI})
        both = await client.post(
            CHAT,
            json={"messages": HI, "lora": [{"name": "poet", "scale": 2}, {"name": "pirate"}]},
        )
        zero = await client.post(
            CHAT, json={"messages": HI, "lora": [{"name": "poet", "scale": 0}]}
        )
        unknown = await client.post(CHAT, json={"messages": HI, "lora": [{"name": "x"}]})
        listing = (await client.get("/v1/models")).json()
        card = (await client.get("/v1/models/fake-model:poet")).json()
    assert named.status_code == 200 and named.json()["model"] == "fake-model:pirate"
    assert [r.adapters for r in engine.requests] == [
        (("pirate", 0.5),),
        (("pirate", 0.5), ("poet", 2.0)),
        (),  # scale 0 is the base model
    ]
    assert both.status_code == zero.status_code == 200
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "lora"
    assert "'pirate', 'poet'" in unknown.json()["error"]["message"]
    ids = [c["id"] for c in listing["data"]]
    assert ids == ["fake-model", "fake-model:pirate", "fake-model:poet"]
    assert card["meta"]["adapter"] == {"name": "poet", "scale": 1.0}


async def test_an_adapter_named_in_the_model_applies_in_every_dialect() -> None:
    """One planner: ``MODEL:ADAPTER`` picks the adapter for Responses and Anthropic
    Messages as it does for chat, and each answer names the model as it was asked."""
    engine = FakeEngine()
    model = "fake-model:pirate"
    async with serve(with_adapters(engine)) as client:
        chat = await client.post(CHAT, json={"model": model, "messages": HI})
        resp = await client.post("/v1/responses", json={"model": model, "input": "hi"})
        body = {"model": model, "max_tokens": 5, "messages": HI}
        msg = await client.post("/v1/messages", json=body)
    assert [r.status_code for r in (chat, resp, msg)] == [200, 200, 200]
    assert [r.json()["model"] for r in (chat, resp, msg)] == [model] * 3
    assert [r.adapters for r in engine.requests] == [(("pirate", 0.5),)] * 3


async def test_one_decode_step_never_mixes_adapter_choices() -> None:
    engine = FakeEngine(script=["a", "b", "c", "d"], slots=3)
    async with serve(with_adapters(engine)) as client:
        bodies = [
            {"messages": HI},
            {"messages": HI, "lora": [{"name": "pirate"}]},
            {"messages": HI, "lora": [{"name": "poet"}]},
        ]
        answers = await asyncio.gather(*(client.post(CHAT, json=b) for b in bodies))
    assert all(a.json()["choices"][0]["message"]["content"] == "abcd" for a in answers)
    backend = engine.backend
    seqs_by_choice: dict[Any, set[int]] = {}
    for entries, choice in zip(backend.decoded, backend.decoded_adapters, strict=True):
        for _, _, seq, _ in entries:
            seqs_by_choice.setdefault(choice, set()).add(seq)
    assert len(seqs_by_choice) == 3  # three choices, each decoded on its own
    seqs = [s for group in seqs_by_choice.values() for s in group]
    assert len(seqs) == len(set(seqs))  # no sequence ever decoded under two choices


async def test_api_ps_lists_the_loaded_and_unload_frees_one() -> None:
    factory = Factory()
    async with serve(Registry([ModelSpec("a", memory=7 << 20), ModelSpec("b")], factory)) as c:
        await c.post(CHAT, json={"model": "b", "messages": HI})
        before = (await c.get("/api/ps")).json()["models"]
        unloaded = await c.post("/api/unload", json={"model": "b"})
        after = (await c.get("/api/ps")).json()["models"]
        missing = await c.post("/api/unload", json={"model": "zzz"})
    assert [m["name"] for m in before] == ["a", "b"]
    assert before[0]["size"] == 7 << 20 and before[0]["size_vram"] == 0
    assert before[0]["expires_at"].startswith("20")
    assert unloaded.json() == {"model": "b", "status": "unloaded", "in_use": 0}
    assert [m["name"] for m in after] == ["a"]
    assert missing.status_code == 404


def test_lineup_reads_named_models_aliases_and_adapters(tmp_path: Path) -> None:
    a, coder = tmp_path / "a.gguf", tmp_path / "coder.gguf"
    a.write_bytes(b"GGUF")
    coder.write_bytes(b"GGUF")
    settings = Settings(
        model=[f"chat={a}", str(coder)],
        alias=["gpt-4o-mini=chat"],
        lora=["coder/py=/l/py.gguf:0.7", "chat/x=/l/x.gguf"],
        models_dir=tmp_path / "store",
        offline=True,
    )
    planned = lineup.plan(settings)
    lineup.locate(planned, settings)
    aliases = lineup.apply_aliases_and_adapters(planned, settings)
    assert [(p.id, p.path) for p in planned] == [("chat", a), ("coder", coder)]
    assert aliases == {"gpt-4o-mini": "chat"}
    assert planned[0].adapters == [Adapter("x", Path("/l/x.gguf"), 1.0)]
    assert planned[1].adapters == [Adapter("py", Path("/l/py.gguf"), 0.7)]


def test_lineup_gives_a_bare_path_its_stem_and_refuses_twins(tmp_path: Path) -> None:
    gguf = tmp_path / "coder.gguf"
    gguf.write_bytes(b"GGUF")
    planned = [lineup.Planned(None, str(gguf)), lineup.Planned("coder", str(gguf))]
    lineup.locate(planned, Settings(models_dir=tmp_path / "store", offline=True))
    assert [p.id for p in planned] == ["coder", "coder"]
    with pytest.raises(Exception, match="two models are served as 'coder'"):
        lineup.check_unique(planned)


def test_per_model_settings_come_from_the_yaml_models_list(tmp_path: Path) -> None:
    from freehold.config import load_settings

    config = tmp_path / "c.yaml"
    config.write_text(
        "models:\n  - name: small\n    model: /m/s.gguf\n    ctx_size: 1024\n"
        "    keep_alive: 60\n    lora: [pirate=/l/p.gguf:0.5]\n  - model: /m/b.gguf\n"
    )
    planned = lineup.plan(load_settings({}, config))
    assert planned[0].overrides == {"ctx_size": 1024} and planned[0].keep_alive == 60
    assert planned[0].adapters == [Adapter("pirate", Path("/l/p.gguf"), 0.5)]
    assert planned[1].id is None and planned[1].overrides == {}


def test_ps_table() -> None:
    rows = [
        {"name": "a", "size": 200 << 20, "size_vram": 0, "status": "loaded", "in_use": 1},
        {"name": "b", "size": 1 << 20, "size_vram": 1, "status": "loaded", "in_use": 0,
         "expires_at": "2318-01-01T00:00:00Z"},
    ]  # fmt: skip
    table = format_table(rows).splitlines()
    assert table[0].split() == ["NAME", "SIZE", "PROCESSOR", "STATUS", "UNTIL"]
    assert table[1].split() == ["a", "200", "MiB", "CPU", "loaded", "in", "use"]
    assert table[2].split() == ["b", "1", "MiB", "GPU", "loaded", "forever"]


def test_with_no_model_named_the_store_models_join_the_default(tmp_path: Path) -> None:
    from freehold.models.store import Manifest, Store, StoredFile

    store = Store(tmp_path / "store")
    for name in ("acme/coder-GGUF:Q4_K_M", "acme/chat-GGUF:Q8_0"):
        manifest = Manifest(name=name, files=[StoredFile(path="m.gguf", file="m.gguf", size=4)])
        store.save(manifest)
        store.model_path(manifest).write_bytes(b"GGUF")
    default = lineup.Planned("SmolLM2", None, path=tmp_path / "smol.gguf")
    found = lineup.store_models(Settings(models_dir=store.root), [default])
    assert [(p.id, p.ref) for p in found] == [
        ("acme/chat-GGUF:Q8_0", "acme/chat-GGUF:Q8_0"),
        ("acme/coder-GGUF:Q4_K_M", "acme/coder-GGUF:Q4_K_M"),
    ]


def test_freehold_ps_asks_a_running_server(tmp_path: Path) -> None:
    import subprocess
    import sys

    from fakeserver import fake_server

    with fake_server(tmp_path / "log", {}) as server:
        cmd = [sys.executable, "-m", "freehold", "ps", "--url", server.base_url]
        shown = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    lines = shown.stdout.splitlines()
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert lines[0].split()[:2] == ["NAME", "SIZE"]
    assert lines[1].split()[0] == "fake-model" and "forever" in lines[1]


def test_the_several_models_flags_parse() -> None:
    from freehold.cli import build_parser

    args = build_parser().parse_args(
        ["serve", "-m", "a=a.gguf", "-m", "c.gguf", "--alias", "g=a", "--keep-alive", "-1"]
        + ["--max-loaded", "1", "--memory-budget", "auto", "--lora", "a/x=y.gguf:0.5"]
    )
    settings = Settings(**{k: v for k, v in vars(args).items() if k in Settings.model_fields})
    assert settings.model == ["a=a.gguf", "c.gguf"] and settings.alias == ["g=a"]
    assert settings.keep_alive == -1 and settings.max_loaded == 1
    assert settings.memory_budget == "auto" and settings.lora == ["a/x=y.gguf:0.5"]
    with pytest.raises(ValueError):
        Settings(memory_budget="lots")
