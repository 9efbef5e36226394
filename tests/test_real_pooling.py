"""Embeddings and the tokenizer endpoints on the real engine (SmolLM2: a generative model
whose GGUF declares no pooling, so freehold pools by mean), through the official SDK."""

from __future__ import annotations

import math
import threading

import httpx
import openai
import pytest
from realserver import RunningServer, smollm2_server

pytestmark = pytest.mark.real
CAT, KITTEN, STOCKS = (
    "The cat sits on the mat.",
    "A kitten rests on a rug.",
    "Stock markets fell sharply today.",
)


@pytest.fixture(scope="module")
def server(model_path, tmp_path_factory):
    log = tmp_path_factory.mktemp("pooling") / "freehold.log"
    with smollm2_server(model_path, log, "-c", "2048", "-np", "2") as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: RunningServer):
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="x", max_retries=0)


def cosine(a: list[float], b: list[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def tokens_of(server: RunningServer, text: str) -> list[int]:
    r = httpx.post(f"{server.base_url}/tokenize", json={"content": text, "add_special": True})
    return r.json()["tokens"]


def test_models_say_mean_pooling_by_default(client):
    meta = client.models.list().data[0].model_extra["meta"]
    assert meta["embeddings"] is True and meta["rerank"] is False
    assert meta["pooling"] == "mean" and meta["pooling_source"].startswith("default")
    assert meta["embedding_dimensions"] == 576


def test_float_vectors_are_unit_length_and_follow_meaning(client, server):
    r = client.embeddings.create(
        model="smollm2", input=[CAT, KITTEN, STOCKS], encoding_format="float"
    )
    vectors = [d.embedding for d in r.data]
    assert [d.index for d in r.data] == [0, 1, 2]
    assert all(len(v) == 576 for v in vectors)
    assert all(math.isclose(cosine(v, v), 1.0, rel_tol=1e-5) for v in vectors)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    counted = sum(len(tokens_of(server, t)) for t in (CAT, KITTEN, STOCKS))
    assert r.usage.prompt_tokens == r.usage.total_tokens == counted


def test_base64_decodes_to_the_float_vector(client):
    floats = client.embeddings.create(model="smollm2", input=CAT, encoding_format="float")
    # the SDK asks for base64 when no format is given, and decodes it itself
    default = client.embeddings.create(model="smollm2", input=CAT)
    raw = client.embeddings.with_raw_response.create(
        model="smollm2", input=CAT, encoding_format="base64"
    )
    assert isinstance(raw.http_response.json()["data"][0]["embedding"], str)
    expected = floats.data[0].embedding
    assert len(default.data[0].embedding) == len(expected)
    assert all(
        math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7)
        for a, b in zip(default.data[0].embedding, expected, strict=True)
    )


def test_token_arrays_give_the_texts_vector(client, server):
    ids = tokens_of(server, KITTEN)
    by_text = client.embeddings.create(model="smollm2", input=KITTEN, encoding_format="float")
    by_ids = client.embeddings.create(model="smollm2", input=[ids], encoding_format="float")
    assert by_ids.usage.prompt_tokens == len(ids)
    assert cosine(by_ids.data[0].embedding, by_text.data[0].embedding) > 0.99999


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"input": "x", "dimensions": 64}, "dimensions"),
        ({"input": ""}, "input"),
        ({"input": [[1, 2], [10**7]]}, "input[1]"),
        ({"input": "word " * 600}, "input"),  # over the 512-token batch
    ],
)
def test_bad_input_is_a_400_and_the_server_goes_on(client, kwargs, param):
    with pytest.raises(openai.BadRequestError) as bad:
        client.embeddings.create(model="smollm2", encoding_format="float", **kwargs)
    assert bad.value.body["param"] == param
    ok = client.embeddings.create(model="smollm2", input="fine", encoding_format="float")
    assert len(ok.data[0].embedding) == 576


def test_another_model_is_a_404(client):
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="nope", input="x")


def test_rerank_on_a_generative_model_is_a_400_naming_it(server):
    r = httpx.post(f"{server.base_url}/v1/rerank", json={"query": "q", "documents": ["d"]})
    assert r.status_code == 400
    assert "'smollm2' is not a reranker" in r.json()["error"]["message"]


def test_tokenize_detokenize_round_trip(server):
    url = server.base_url
    text = "Hello wörld <|im_start|>"
    plain = httpx.post(f"{url}/tokenize", json={"content": text, "with_pieces": True}).json()
    ids = [t["id"] for t in plain["tokens"]]
    assert "".join(t["piece"] for t in plain["tokens"] if isinstance(t["piece"], str)) == text
    assert 1 in ids, "special-token text is parsed as the special token (<|im_start|> = 1)"
    back = httpx.post(f"{url}/detokenize", json={"tokens": ids}).json()
    assert back == {"content": text}


def test_tokenize_messages_renders_the_chat_template(server):
    messages = [{"role": "user", "content": "Hi there"}]
    body = {"messages": messages, "with_pieces": True}
    pieces = httpx.post(f"{server.base_url}/tokenize", json=body).json()["tokens"]
    text = "".join(p["piece"] for p in pieces)
    assert text.startswith("<|im_start|>")
    assert "<|im_start|>user\nHi there<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")


def test_embedding_beside_a_stream_leaves_its_output_unchanged(client):
    """The pooling context is apart from the generation context: a stream decoded while
    a long embedding runs gives the very tokens it gives alone (temperature 0)."""
    ask = dict(
        model="smollm2",
        messages=[{"role": "user", "content": "Count from one to twenty."}],
        max_tokens=48,
        temperature=0,
    )
    alone = client.chat.completions.create(**ask).choices[0].message.content
    embedded: list[int] = []

    def embed() -> None:
        r = client.embeddings.create(model="smollm2", input=["word " * 300] * 2)
        embedded.append(len(r.data))

    worker = threading.Thread(target=embed)
    stream = client.chat.completions.create(**ask, stream=True)
    first = next(iter(stream))
    worker.start()
    rest = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    worker.join(timeout=240)
    assert (first.choices[0].delta.content or "") + rest == alone
    assert embedded == [2]


def test_an_image_to_this_text_only_model_is_a_400_naming_it(client):
    png = (  # one red pixel
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4"
        "nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
    )
    image = {"type": "image_url", "image_url": {"url": png}}
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(
            model="smollm2", messages=[{"role": "user", "content": [image]}], max_tokens=4
        )
    assert "'smollm2' does not take images" in bad.value.body["message"]
    assert client.models.list().data[0].model_extra["meta"]["vision"] is False
