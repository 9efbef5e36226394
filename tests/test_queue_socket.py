"""Over a real socket (uvicorn as `freehold serve` runs it, a FakeEngine behind it): a
queued stream has its headers and first chunk before a slot frees up, and a chunked
body over the limit is refused with 413."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
from fakeserver import fake_server

CHAT = "/v1/chat/completions"
STREAM = {"messages": [{"role": "user", "content": "hi"}], "stream": True}


def first_data(lines: Iterator[str]) -> dict:
    return json.loads(next(line for line in lines if line.startswith("data:"))[5:])


def test_a_queued_stream_starts_before_a_slot_frees_up(tmp_path):
    engine = {"slots": 1, "pieces": 60, "delay": 0.05}  # the first stream runs for seconds
    with fake_server(tmp_path / "log", {}, engine) as srv, httpx.Client(timeout=30) as client:
        url = srv.base_url + CHAT
        with client.stream("POST", url, json=STREAM) as running:
            running_lines = running.iter_lines()  # kept: a dropped iterator closes the stream
            first_data(running_lines)
            with client.stream("POST", url, json=STREAM) as queued:
                lines = queued.iter_lines()
                role = first_data(lines)
                inflight = srv.busy()  # the running stream holds the only slot
                rest = [line for line in lines if line.startswith("data:")]
            finished = [line for line in running_lines if line.startswith("data:")]
    assert queued.status_code == 200 and inflight == 2
    assert role["choices"][0]["delta"]["role"] == "assistant"
    assert rest[-1] == finished[-1] == "data: [DONE]"


def test_a_chunked_body_over_the_limit_gets_413_over_a_socket(tmp_path):
    def body() -> Iterator[bytes]:
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(64):
            yield b"x" * 4096
        yield b'"}]}'

    with fake_server(tmp_path / "log", {"max_body_bytes": 65536}) as srv:
        r = httpx.post(
            srv.base_url + CHAT,
            content=body(),
            headers={"content-type": "application/json"},
            timeout=30,
        )
        ok = httpx.post(srv.base_url + CHAT, json={"messages": STREAM["messages"]}, timeout=30)
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    assert ok.status_code == 200
