"""Image parts of chat messages, in-process: decoding, limits, URLs, and the refusal of a
model without a projector. The FakeEngine records the decoded images it is given."""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from freehold.engine.fake import FakeEngine
from freehold.engine.vision import MEDIA_MARKER

pytestmark = pytest.mark.anyio
CHAT = "/v1/chat/completions"


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (8, 6), color=(200, 10, 10)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    return buf.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def ask(*urls: str) -> dict:
    parts = [{"type": "text", "text": "What is this?"}]
    parts += [{"type": "image_url", "image_url": {"url": u}} for u in urls]
    return {"messages": [{"role": "user", "content": parts}]}


async def test_an_image_to_a_text_only_model_is_a_400_naming_it(fake):
    async with fake() as (client, _):
        r = await client.post(CHAT, json=ask(data_url(image_bytes())))
        meta = (await client.get("/v1/models")).json()["data"][0]["meta"]
    assert r.status_code == 400
    error = r.json()["error"]
    assert "'fake-model' does not take images" in error["message"]
    assert error["param"] == "messages[0].content[1]" and error["code"] == "model_not_vision"
    assert meta["vision"] is False


@pytest.mark.parametrize(
    ("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]
)
async def test_images_reach_the_engine_decoded_in_order(fake, fmt, mime):
    first, second = image_bytes(fmt, (8, 6)), image_bytes("PNG", (5, 7), (0, 0, 255))
    async with fake(FakeEngine(vision=True)) as (client, engine):
        r = await client.post(CHAT, json=ask(data_url(first, mime), data_url(second)))
        meta = (await client.get("/v1/models")).json()["data"][0]["meta"]
    assert r.status_code == 200, r.text
    request = engine.requests[-1]
    assert [(i.width, i.height) for i in request.images] == [(8, 6), (5, 7)]
    assert len(request.images[0].rgb) == 8 * 6 * 3
    assert request.images[1].rgb[:3] == bytes([0, 0, 255])
    assert request.prompt.count(MEDIA_MARKER) == 2
    assert request.prompt.index("What is this?") < request.prompt.index(MEDIA_MARKER)
    assert meta["vision"] is True


async def test_a_gif_gives_its_first_frame_and_a_bare_url_string_is_accepted(fake):
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 255, 0))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    body = ask()
    body["messages"][0]["content"].append(
        {"type": "image_url", "image_url": data_url(buf.getvalue(), "image/gif")}
    )
    async with fake(FakeEngine(vision=True)) as (client, engine):
        r = await client.post(CHAT, json=body)
    assert r.status_code == 200, r.text
    assert engine.requests[-1].images[0].rgb[:3] == bytes([255, 0, 0])


@pytest.mark.parametrize(
    ("url", "settings", "message"),
    [
        ("data:image/png;base64,@@@", {}, "not valid base64"),
        ("data:image/png,rawbytes", {}, "must be base64"),
        (data_url(b"not an image at all"), {}, "could not be decoded"),
        (data_url(image_bytes("BMP"), "image/bmp"), {}, "not BMP"),
        (data_url(image_bytes()), {"max_image_bytes": 10}, "--max-image-bytes"),
        (data_url(image_bytes(size=(40, 40))), {"max_image_pixels": 1000}, "40x40"),
        ("http://127.0.0.1:9/cat.png", {}, "--allow-image-urls"),
        ("ftp://example.invalid/cat.png", {}, "data: URL or http(s)"),
    ],
)
async def test_bad_images_are_400s_naming_the_part(fake, url, settings, message):
    async with fake(FakeEngine(vision=True), **settings) as (client, engine):
        r = await client.post(CHAT, json=ask(url))
        after = await client.post(CHAT, json=ask(data_url(image_bytes())))
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]["message"]
    assert r.json()["error"]["param"] == "messages[0].content[1]"
    assert after.status_code == 200 or "--max-image" in message
    assert len(engine.requests) <= 1


@contextmanager
def image_server(payload: bytes) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/image.png"
    finally:
        server.shutdown()
        server.server_close()


async def test_http_image_urls_are_fetched_when_allowed_within_the_size_limit(fake):
    big = image_bytes(size=(64, 64))
    with image_server(big) as url:
        async with fake(FakeEngine(vision=True), allow_image_urls=True) as (client, engine):
            ok = await client.post(CHAT, json=ask(url))
        small_limit = {"allow_image_urls": True, "max_image_bytes": len(big) - 1}
        async with fake(FakeEngine(vision=True), **small_limit) as (client, _):
            over = await client.post(CHAT, json=ask(url))
    assert ok.status_code == 200, ok.text
    assert (engine.requests[-1].images[0].width, engine.requests[-1].images[0].height) == (64, 64)
    assert over.status_code == 400 and "--max-image-bytes" in over.json()["error"]["message"]


def anthropic_image(data: bytes) -> dict:
    source = {"type": "base64", "media_type": "image/png", "data": base64.b64encode(data).decode()}
    return {"type": "image", "source": source}


async def test_anthropic_image_blocks_reach_the_engine(fake):
    content = [{"type": "text", "text": "What is this?"}, anthropic_image(image_bytes(size=(3, 2)))]
    body = {
        "model": "fake-model",
        "max_tokens": 8,
        "messages": [{"role": "user", "content": content}],
    }
    async with fake(FakeEngine(vision=True)) as (client, engine):
        r = await client.post("/v1/messages", json=body)
    assert r.status_code == 200, r.text
    request = engine.requests[-1]
    assert [(i.width, i.height) for i in request.images] == [(3, 2)]
    assert request.prompt.count(MEDIA_MARKER) == 1


async def test_responses_input_images_reach_the_engine(fake):
    content = [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": data_url(image_bytes(size=(4, 5)))},
    ]
    body = {"model": "fake-model", "input": [{"role": "user", "content": content}]}
    async with fake(FakeEngine(vision=True)) as (client, engine):
        r = await client.post("/v1/responses", json=body)
    assert r.status_code == 200, r.text
    assert [(i.width, i.height) for i in engine.requests[-1].images] == [(4, 5)]


async def test_dialect_images_to_a_text_only_model_are_400s_naming_it(fake):
    anthropic = {
        "model": "fake-model",
        "max_tokens": 8,
        "messages": [{"role": "user", "content": [anthropic_image(image_bytes())]}],
    }
    responses = {
        "input": [
            {
                "role": "user",
                "content": [{"type": "input_image", "image_url": data_url(image_bytes())}],
            }
        ]
    }
    async with fake() as (client, engine):
        a = await client.post("/v1/messages", json=anthropic)
        b = await client.post("/v1/responses", json=responses)
    for r in (a, b):
        assert r.status_code == 400, r.text
        assert "'fake-model' does not take images" in r.text
    assert engine.requests == []
