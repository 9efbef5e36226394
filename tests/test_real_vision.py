"""Images on the real engine: SmolLM2 with a tiny seeded projector (tests/mmproj_gguf.py)
through the official SDK. The projector's answers are meaningless; what is checked is
real: the image reaches the model (its tokens count, its pixels change the output), the
same image gives the same output and is reused from the prefix cache, a text stream
beside an image prompt is unchanged, and bad images are 400s."""

from __future__ import annotations

import base64
import io
import threading

import openai
import pytest
from mmproj_gguf import IMAGE_TOKENS, cached_mmproj_gguf
from PIL import Image
from realserver import smollm2_server

pytestmark = pytest.mark.real


def png(color: tuple[int, int, int], size: tuple[int, int] = (48, 40)) -> str:
    image = Image.new("RGB", size, color)
    for x in range(size[0] // 2):  # some structure, so that patches differ
        image.putpixel((x, x % size[1]), (255 - color[0], 255 - color[1], 255 - color[2]))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return f"data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}"


RED, BLUE = png((220, 20, 20)), png((20, 20, 220))


def ask(client: openai.OpenAI, *urls: str, max_tokens: int = 16, text: str = "Describe it."):
    parts: list[dict] = [{"type": "text", "text": text}]
    parts += [{"type": "image_url", "image_url": {"url": u}} for u in urls]
    return client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": parts}],
        max_tokens=max_tokens,
        temperature=0,
    )


@pytest.fixture(scope="module")
def server(model_path, tmp_path_factory):
    mmproj = cached_mmproj_gguf(tmp_path_factory.getbasetemp() / "mmproj")
    log = tmp_path_factory.mktemp("vision") / "freehold.log"
    with smollm2_server(model_path, log, "-c", "2048", "-np", "2", "--mmproj", str(mmproj)) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="x", max_retries=0)


def test_models_say_vision(client):
    assert client.models.list().data[0].model_extra["meta"]["vision"] is True


def test_each_image_counts_its_tokens(client):
    one = ask(client, RED, max_tokens=1).usage.prompt_tokens
    two = ask(client, RED, BLUE, max_tokens=1).usage.prompt_tokens
    # the second image adds its tokens and the "\n" that joins content parts
    assert two - one == IMAGE_TOKENS + 1


def test_pixels_change_the_output_and_the_same_image_gives_the_same(client):
    red = ask(client, RED).choices[0].message.content
    again = ask(client, RED)
    blue = ask(client, BLUE)
    assert again.choices[0].message.content == red
    assert blue.choices[0].message.content != red
    # the whole prompt but its last token came from the cache, the image included; the
    # other image shares only the text before it
    cached = again.usage.prompt_tokens_details.cached_tokens
    assert cached == again.usage.prompt_tokens - 1 and cached > IMAGE_TOKENS
    assert blue.usage.prompt_tokens_details.cached_tokens < cached - IMAGE_TOKENS


def test_a_text_stream_beside_an_image_prompt_is_unchanged(client):
    text = dict(
        model="smollm2",
        messages=[{"role": "user", "content": "Name three colours."}],
        max_tokens=32,
        temperature=0,
    )
    alone = client.chat.completions.create(**text).choices[0].message.content
    answers: list[str] = []
    image_request = threading.Thread(
        target=lambda: answers.append(
            ask(client, BLUE, text="What now?").choices[0].message.content
        )
    )
    stream = client.chat.completions.create(**text, stream=True)
    first = next(iter(stream))
    image_request.start()
    rest = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    image_request.join(timeout=120)
    assert (first.choices[0].delta.content or "") + rest == alone
    assert len(answers) == 1 and answers[0]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("data:image/png;base64," + base64.b64encode(b"no image").decode(), "decoded"),
        ("http://127.0.0.1:9/x.png", "--allow-image-urls"),
    ],
)
def test_bad_images_are_400s(client, url, message):
    with pytest.raises(openai.BadRequestError) as bad:
        ask(client, url)
    assert message in bad.value.body["message"]
    assert ask(client, RED, max_tokens=2).choices[0].message.content is not None


def test_the_marker_text_without_an_image_is_a_400(client):
    with pytest.raises(openai.BadRequestError) as bad:
        ask(client, RED, text="see <__media__> here")
    assert "do not match" in bad.value.body["message"]


def test_anthropic_image_blocks_go_the_same_way(server, client):
    import anthropic

    claude = anthropic.Anthropic(base_url=server.base_url, api_key="x", max_retries=0)
    data = BLUE.split(",", 1)[1]
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
    content = [{"type": "text", "text": "Describe it."}, image]
    r = claude.messages.create(
        model="smollm2",
        max_tokens=16,
        extra_body={"temperature": 0},
        messages=[{"role": "user", "content": content}],
    )
    chat = ask(client, BLUE)
    assert r.usage.input_tokens == chat.usage.prompt_tokens  # the same prompt, image included
    assert r.content[0].text == chat.choices[0].message.content
