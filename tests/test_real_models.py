"""The real tier, several models in one server: SmolLM2-135M and gemma-3-270m (two real
GGUFs), loaded on demand, side by side, unloaded when idle (RSS from /proc), evicted
least recently used under --max-loaded 1, refused over the memory budget, with aliases,
per-model settings from YAML, and a LoRA adapter applied per request."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from gemma_gguf import gemma_path
from lora_gguf import make_lora_gguf
from realserver import RunningServer, running_server

pytestmark = pytest.mark.real
ASK = [{"role": "user", "content": "Name three colours."}]


@pytest.fixture(scope="session")
def gemma() -> Path:
    return gemma_path()


@pytest.fixture(scope="module")
def lora(tmp_path_factory) -> Path:
    return make_lora_gguf(tmp_path_factory.mktemp("lora") / "pirate.gguf")


@pytest.fixture(scope="module")
def server(model_path, gemma, lora, tmp_path_factory):
    log = tmp_path_factory.mktemp("models") / "freehold.log"
    args = [
        *("-m", f"smollm2={model_path}", "-m", f"gemma={gemma}"),
        *("--alias", "gpt-4o-mini=gemma", "--lora", f"smollm2/pirate={lora}"),
        *("-t", "2", "-c", "4096", "-np", "2"),
    ]
    with running_server(args, log) as srv:
        yield srv


def post(server: RunningServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(f"{server.base_url}{path}", json=body, timeout=300)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def chat(server: RunningServer, model: str, **extra: Any) -> str:
    body = {"model": model, "messages": ASK, "max_tokens": 12, "temperature": 0, **extra}
    return str(post(server, "/v1/chat/completions", body)["choices"][0]["message"]["content"])


def statuses(server: RunningServer) -> dict[str, str]:
    listing = httpx.get(f"{server.base_url}/v1/models", timeout=30).json()
    return {card["id"]: card["status"] for card in listing["data"]}


def wait_for(check: Callable[[], bool], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def rss(server: RunningServer) -> int:
    """The server's resident memory in bytes, from /proc."""
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def at_once(*calls: Callable[[], str]) -> list[str]:
    results: list[str] = [""] * len(calls)

    def run(i: int) -> None:
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    return results


def test_every_model_is_listed_and_a_request_loads_its_model(server):
    before = statuses(server)
    answer = post(
        server,
        "/v1/completions",
        {"model": "gpt-4o-mini", "prompt": "The sky is", "max_tokens": 6, "temperature": 0},
    )
    after = statuses(server)
    ps = httpx.get(f"{server.base_url}/api/ps", timeout=30).json()["models"]
    assert before == {"smollm2": "loaded", "smollm2:pirate": "loaded", "gemma": "unloaded"}
    assert answer["model"] == "gemma" and answer["choices"][0]["text"]
    assert after["gemma"] == "loaded"
    assert {m["name"] for m in ps} == {"smollm2", "gemma"} and all(m["size"] > 0 for m in ps)


def test_two_models_answer_at_once_each_as_alone(server):
    solo = [chat(server, "smollm2"), chat(server, "gemma")]
    together = at_once(lambda: chat(server, "smollm2"), lambda: chat(server, "gemma"))
    assert together == solo and solo[0] != solo[1]


def test_two_models_stream_side_by_side(server):
    """gemma's first token arrives while SmolLM2's stream is still going."""
    arrivals: dict[str, list[float]] = {"smollm2": [], "gemma": []}
    started = threading.Event()

    def stream(model: str, tokens: int) -> str:
        body = {"model": model, "messages": ASK, "max_tokens": tokens, "stream": True}
        body |= {"temperature": 0, "ignore_eos": True}
        url = f"{server.base_url}/v1/chat/completions"
        with httpx.stream("POST", url, json=body, timeout=300) as r:
            for line in r.iter_lines():
                if '"content":"' in line:
                    arrivals[model].append(time.monotonic())
                    started.set()
        return model

    def second() -> str:
        assert started.wait(300)
        return stream("gemma", 4)

    at_once(lambda: stream("smollm2", 64), second)
    assert len(arrivals["smollm2"]) >= 32 and arrivals["gemma"]
    assert arrivals["gemma"][0] < arrivals["smollm2"][-1]


def test_lora_adapter_per_request_never_leaks_into_the_base(server):
    base, pirate = chat(server, "smollm2"), chat(server, "smollm2:pirate")
    scaled_to_zero = chat(server, "smollm2", lora=[{"name": "pirate", "scale": 0}])
    by_field = chat(server, "smollm2", lora=[{"name": "pirate", "scale": 1}])
    together = at_once(lambda: chat(server, "smollm2"), lambda: chat(server, "smollm2:pirate"))
    assert pirate != base
    assert scaled_to_zero == base and by_field == pirate
    assert together == [base, pirate]


def test_keep_alive_unloads_an_idle_model_and_its_memory_goes(server):
    chat(server, "gemma")
    loaded = rss(server)
    chat(server, "gemma", keep_alive="1s")  # unloaded one second after it ends
    assert wait_for(lambda: statuses(server)["gemma"] == "unloaded")
    freed = loaded - rss(server)
    assert freed > 150 << 20, f"RSS fell by {freed >> 20} MiB only"
    chat(server, "gemma", keep_alive=0)  # loads again, unloaded right after
    assert wait_for(lambda: statuses(server)["gemma"] == "unloaded", 30)
    assert statuses(server)["smollm2"] == "loaded"


@pytest.fixture(scope="module")
def tight_server(model_path, gemma, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tight")
    config = folder / "models.yaml"
    config.write_text(
        "models:\n"
        f"  - {{name: smollm2, model: '{model_path}', ctx_size: 2048}}\n"
        f"  - {{name: gemma, model: '{gemma}', ctx_size: 1024}}\n"
        f"  - {{name: smollm2-long, model: '{model_path}', ctx_size: 32768}}\n"
        "max_loaded: 1\nmemory_budget: '400000000'\nthreads: 2\n"
    )
    with running_server(["--config", str(config)], folder / "freehold.log") as srv:
        yield srv


def test_max_loaded_one_evicts_the_least_recently_used(tight_server):
    first = statuses(tight_server)
    chat(tight_server, "gemma")
    second = statuses(tight_server)
    chat(tight_server, "smollm2")
    third = statuses(tight_server)
    cards = httpx.get(f"{tight_server.base_url}/v1/models", timeout=30).json()["data"]
    assert first == {"smollm2": "loaded", "gemma": "unloaded", "smollm2-long": "unloaded"}
    assert second["gemma"] == "loaded" and second["smollm2"] == "unloaded"
    assert third["smollm2"] == "loaded" and third["gemma"] == "unloaded"
    slot_context = {c["id"]: c["meta"]["slot_context"] for c in cards}
    assert slot_context["smollm2"] == 2048 and slot_context["gemma"] == 1024


def test_a_model_that_can_never_fit_is_refused_naming_the_sizes(tight_server):
    r = httpx.post(
        f"{tight_server.base_url}/v1/chat/completions",
        json={"model": "smollm2-long", "messages": ASK, "max_tokens": 4},
        timeout=60,
    )
    assert r.status_code == 507, r.text
    error = r.json()["error"]
    assert error["code"] == "model_too_large"
    assert "0.37 GiB (400000000 bytes)" in error["message"]
    assert statuses(tight_server)["smollm2-long"] == "unloaded"
    assert chat(tight_server, "smollm2")
