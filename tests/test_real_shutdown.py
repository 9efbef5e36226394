"""SIGTERM drains: a stream in flight finishes, new requests are refused, the process exits."""

from __future__ import annotations

import json
import signal

import httpx
import pytest
from realserver import smollm2_server

pytestmark = pytest.mark.real


def test_sigterm_lets_a_running_stream_finish_then_exits(model_path, tmp_path):
    with smollm2_server(model_path, tmp_path / "log", "-c", "2048", "-np", "2") as srv:
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
        assert srv.process.wait(timeout=60) in (0, -signal.SIGTERM)
