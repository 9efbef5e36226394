"""Real model: --request-timeout and t_max_predict_ms end generations and queue waits;
a GGUF whose chat template fails the sandbox is refused at load."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import httpx
import pytest
from realserver import free_port, smollm2_server
from thinking_gguf import cached_thinking_gguf

pytestmark = pytest.mark.real
LONG = {
    "messages": [{"role": "user", "content": "Tell me a long story."}],
    "max_tokens": 4000,
    "ignore_eos": True,
}


def test_request_timeout_ends_generation_and_the_own_limit_counts_from_admission(
    model_path, tmp_path
):
    args = ("-c", "8192", "-np", "1", "--request-timeout", "3")
    with smollm2_server(model_path, tmp_path / "log", *args) as srv:
        url = f"{srv.base_url}/v1/chat/completions"
        first: dict = {}
        started = time.monotonic()
        runner = threading.Thread(
            target=lambda: first.update(r=httpx.post(url, json=LONG, timeout=60))
        )
        runner.start()
        deadline = time.monotonic() + 30
        while srv.busy() < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        # the only slot is taken for 3 s: a request allowed 0.5 s waits, then runs 0.5 s
        queued = httpx.post(url, json={**LONG, "t_max_predict_ms": 500}, timeout=60)
        runner.join(timeout=60)
        took = time.monotonic() - started
        assert srv.wait_idle()
    assert queued.status_code == 200
    assert queued.json()["choices"][0]["finish_reason"] == "length"
    assert 0 < queued.json()["usage"]["completion_tokens"] < 4000
    body = first["r"].json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert 0 < body["usage"]["completion_tokens"] < 4000
    assert 2.5 < took < 40  # 3 s plus a step or two on a busy machine


UNSAFE = "{{ ''.__class__.__mro__[1].__subclasses__() }}"


def test_gguf_whose_template_fails_the_sandbox_is_refused_at_load(
    model_path, tmp_path, tmp_path_factory
):
    evil = cached_thinking_gguf(model_path, tmp_path_factory.getbasetemp() / "unsafe", UNSAFE)
    log = tmp_path / "log"
    cmd = [sys.executable, "-m", "freehold", "serve", "-m", str(evil), "-t", "2"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*cmd, "--port", str(free_port())], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        code = process.wait(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
    text = log.read_text()
    assert code == 1, text
    assert f"refusing to serve '{evil.stem}' ({evil})" in text, text
    assert "unsafe" in text and "--chat-template" in text
