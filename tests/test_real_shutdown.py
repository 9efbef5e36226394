"""SIGTERM drains: a stream in flight finishes, new requests are refused, the process exits."""

from __future__ import annotations

import json
import signal
import threading
import time

import httpx
import pytest
from realserver import smollm2_server

pytestmark = pytest.mark.real


def test_sigterm_lets_a_running_stream_finish_then_exits(model_path, tmp_path):
    args = ("-c", "2048", "-np", "2", "--shutdown-timeout", "90")  # a busy machine is slow
    with smollm2_server(model_path, tmp_path / "log", *args) as srv:
        body = {
            "messages": [{"role": "user", "content": "Tell me a story."}],
            "max_tokens": 120,
            "stream": True,
            "ignore_eos": True,
        }
        with httpx.stream(
            "POST", f"{srv.base_url}/v1/chat/completions", json=body, timeout=120
        ) as r:
            lines = r.iter_lines()
            first = next(line for line in lines if line.startswith("data:"))
            srv.process.send_signal(signal.SIGTERM)
            rest = [line for line in lines if line.startswith("data:")]
        assert json.loads(first[5:])["choices"][0]["delta"]["role"] == "assistant"
        assert rest[-1] == "data: [DONE]"
        finish = [json.loads(x[5:])["choices"][0]["finish_reason"] for x in rest[:-1]]
        assert finish[-1] == "length"
        assert srv.process.wait(timeout=60) == 0


def test_sigterm_ends_long_requests_within_the_drain_time_and_refuses_queued(model_path, tmp_path):
    args = ("-c", "8192", "-np", "1", "--shutdown-timeout", "2")
    with smollm2_server(model_path, tmp_path / "log", *args) as srv:
        url = f"{srv.base_url}/v1/chat/completions"
        long = {
            "messages": [{"role": "user", "content": "Tell me a long story."}],
            "max_tokens": 4000,
            "ignore_eos": True,
        }
        queued: dict = {}
        with httpx.stream("POST", url, json={**long, "stream": True}, timeout=120) as r:
            lines = r.iter_lines()
            next(line for line in lines if line.startswith("data:"))
            waiter = threading.Thread(
                target=lambda: queued.update(r=httpx.post(url, json=long, timeout=120))
            )
            waiter.start()
            deadline = time.monotonic() + 30
            while srv.busy() < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            stopped = time.monotonic()
            srv.process.send_signal(signal.SIGTERM)
            rest = [line for line in lines if line.startswith("data:")]
        waiter.join(timeout=60)
        code = srv.process.wait(timeout=60)
        took = time.monotonic() - stopped
    assert rest[-1] == "data: [DONE]"
    assert json.loads(rest[-2][5:])["choices"][0]["finish_reason"] == "length"
    refused = queued["r"]
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "shutting_down"
    assert code == 0
    assert took < 40  # the drain (2 s) plus a step or two on a busy machine
