"""The server as `freehold serve` runs it, over a real socket (FakeEngine, no model):
slow clients are cut off, SIGTERM drains and exits 0, a broken template is refused."""

from __future__ import annotations

import json
import select
import signal
import socket
import threading
import time

import httpx
import pytest
from fakeserver import fake_server

UNSAFE_TEMPLATE = "{{ ''.__class__.__mro__[1].__subclasses__() }}"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("fakeserver") / "log"
    with fake_server(log, {"client_timeout": 1}) as srv:
        yield srv


def _connect(srv) -> socket.socket:
    host, port = srv.base_url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _dribble_until_closed(sock: socket.socket, pieces: list[bytes]) -> tuple[bytes, float]:
    """Send ``pieces`` one every 0.25 s until the server closes the connection; returns
    what the server sent and the seconds it took (bounded by the number of pieces)."""
    start, received = time.monotonic(), b""
    for piece in pieces:
        try:
            sock.sendall(piece)
        except OSError:  # reset: the server is gone
            break
        readable, _, _ = select.select([sock], [], [], 0.25)
        if readable:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            received += data
    else:
        raise AssertionError(f"still open after {time.monotonic() - start:.1f} s")
    return received, time.monotonic() - start


def _read_response(sock: socket.socket, data: bytes = b"") -> bytes:
    """One whole response with a Content-Length (bounded by the socket's timeout), after
    the ``data`` of it already received."""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or b"\r\n\r\n"
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_headers_dribbled_are_cut_off(server):
    with _connect(server) as sock:
        head = [b"GET /health HTTP/1.1\r\nHost: x\r\n"] + [b"X-Slow: 1\r\n"] * 40
        received, took = _dribble_until_closed(sock, head)
    assert received == b""  # a head never completed gets no response, like nginx
    assert 0.9 < took < 5
    assert server.health().status_code == 200


def test_body_dribbled_gets_408_then_cut_off(server):
    with _connect(server) as sock:
        head = (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        )
        received, took = _dribble_until_closed(sock, [head] + [b" "] * 40)
    status, _, body = received.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 408")
    assert json.loads(body)["error"]["code"] == "request_timeout"
    assert 0.9 < took < 5
    assert server.health().status_code == 200


def test_a_late_body_on_an_anthropic_route_gets_anthropics_error_shape(server):
    with _connect(server) as sock:
        head = (
            b"POST /v1/messages HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        )
        received, _ = _dribble_until_closed(sock, [head] + [b" "] * 40)
    status, _, body = received.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 408")
    error = json.loads(body)
    assert error["type"] == "error" and "did not arrive in time" in error["error"]["message"]


def test_idle_connection_is_closed_and_a_prompt_client_is_served(server):
    with _connect(server) as sock:
        start = time.monotonic()
        readable, _, _ = select.select([sock], [], [], 10)
        assert readable and sock.recv(1) == b""
        assert time.monotonic() - start < 5
    with _connect(server) as sock:  # a client that sends its request in two parts, in time
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        sock.sendall(b"Host: x\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 200")


def test_second_request_on_a_kept_alive_connection_is_held_to_the_deadline_too(server):
    with _connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_response(sock).startswith(b"HTTP/1.1 200")
        head = [b"GET /health HTTP/1.1\r\n"] + [b"X-Slow: 1\r\n"] * 40
        received, took = _dribble_until_closed(sock, head)
    assert received == b"" and took < 5


def test_cors_preflight_over_a_socket(tmp_path):
    settings = {"cors_origins": ["https://app.example"], "api_key": ["k"]}
    with fake_server(tmp_path / "log", settings) as srv:
        r = httpx.options(
            f"{srv.base_url}/v1/chat/completions",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert "authorization" in r.headers["access-control-allow-headers"].lower()


def _chat(base_url: str, stream: bool, out: dict) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "stream": stream}
    url = f"{base_url}/v1/chat/completions"
    if not stream:
        out["json"] = httpx.post(url, json=body, timeout=60)
        return
    with httpx.stream("POST", url, json=body, timeout=60) as r:
        out["status"] = r.status_code
        out["lines"] = [line for line in r.iter_lines() if line.startswith("data:")]


def test_sigterm_ends_running_requests_cleanly_and_exits_0(tmp_path):
    engine = {"pieces": 2000, "delay": 0.02}  # 40 s of output unless the drain ends it
    with fake_server(tmp_path / "log", {"shutdown_timeout": 1}, engine) as srv:
        results: list[dict] = [{}, {}]
        threads = [
            threading.Thread(target=_chat, args=(srv.base_url, stream, out))
            for stream, out in zip((True, False), results, strict=True)
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while srv.busy() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert srv.busy() == 2
        stopped = time.monotonic()
        srv.process.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(timeout=30)
        code = srv.process.wait(timeout=30)
        took = time.monotonic() - stopped
    streamed, folded = results
    assert streamed["status"] == 200 and streamed["lines"][-1] == "data: [DONE]"
    last = json.loads(streamed["lines"][-2][5:])
    assert last["choices"][0]["finish_reason"] == "length"
    assert folded["json"].status_code == 200
    assert folded["json"].json()["choices"][0]["finish_reason"] == "length"
    assert code == 0, srv.log.read_text()
    assert took < 10


def test_model_whose_template_fails_the_sandbox_is_refused_at_load(tmp_path):
    log = tmp_path / "log"
    with fake_server(log, {}, {"template": UNSAFE_TEMPLATE}) as srv:
        code = srv.process.wait(timeout=30)
    text = log.read_text()
    assert code == 1
    assert "refusing to serve 'fake-model'" in text and "unsafe" in text, text


def test_chunked_10_mib_upload_gets_413_over_a_socket_and_the_server_goes_on(server):
    """The body limit counts chunked bytes as they arrive (no Content-Length to trust)."""
    piece = b"x" * 65536
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    sent, received = 0, b""
    with _connect(server) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'7\r\n{"a": "\r\n'
        )
        while sent < 10 << 20 and not received:  # 160 chunks at most
            try:
                sock.sendall(chunk)
            except OSError:  # the server stopped reading: its answer is waiting
                break
            sent += len(piece)
            if select.select([sock], [], [], 0)[0]:
                received = sock.recv(65536)
        received = _read_response(sock, received)
    assert received.startswith(b"HTTP/1.1 413"), received[:200]
    assert b"request_too_large" in received
    assert server.health().status_code == 200


def test_a_client_that_gives_up_on_a_non_streamed_answer_leaves_no_error(tmp_path):
    """The soak found it: a client timing out while its answer was generated made the
    server log a RuntimeError (closing a generator that was still running) and a 500."""
    engine = {"pieces": 400, "delay": 0.01}  # 4 s of output
    with fake_server(tmp_path / "log", {}, engine) as srv:
        body = {"messages": [{"role": "user", "content": "hi"}]}
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{srv.base_url}/v1/chat/completions", json=body, timeout=0.5)
        assert srv.wait_idle(timeout=10)  # the generation was cancelled, its slot freed
        log = srv.log.read_text()
    assert "Traceback" not in log and " 500" not in log, log
