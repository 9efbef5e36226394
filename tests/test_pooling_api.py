"""Embeddings, rerank, tokenize and detokenize in-process over the FakeEngine: its byte
tokenizer and countable vectors go through the real PoolingWorker and Pooler."""

from __future__ import annotations

import base64
import math
import struct

import pytest
from openapi import validate

from freehold.engine.fake import FakeEngine
from freehold.engine.pooling import PoolingFacts

pytestmark = pytest.mark.anyio
EMB = "/v1/embeddings"


def reranker() -> FakeEngine:
    return FakeEngine(facts=PoolingFacts("rank", True, 1, 64))


async def test_one_string_gives_one_unit_vector_and_its_token_count(fake):
    async with fake() as (client, _):
        r = await client.post(EMB, json={"model": "fake-model", "input": "abc"})
    assert r.status_code == 200, r.text
    body = r.json()
    validate("CreateEmbeddingResponse", body)
    [item] = body["data"]
    assert item["index"] == 0 and len(item["embedding"]) == 8
    assert math.isclose(math.fsum(x * x for x in item["embedding"]), 1.0, rel_tol=1e-9)
    # BOS + 3 bytes; counts by id % 8: BOS 0 → dim 0, 'a'=100 → 4, 'b' → 5, 'c' → 6
    assert [round(x * 2, 6) for x in item["embedding"]] == [1, 0, 0, 0, 1, 1, 1, 0]
    assert body["usage"] == {"prompt_tokens": 4, "total_tokens": 4}
    assert body["model"] == "fake-model"


async def test_a_list_is_batched_across_inputs_in_order(fake):
    inputs = ["a", "bb", "ccc", "dddd", "eeeee", "f"]
    async with fake() as (client, engine):
        r = await client.post(EMB, json={"input": inputs})
        single = [(await client.post(EMB, json={"input": s})).json() for s in inputs]
    body = r.json()
    assert [d["index"] for d in body["data"]] == list(range(6))
    assert [d["embedding"] for d in body["data"]] == [s["data"][0]["embedding"] for s in single]
    assert body["usage"]["prompt_tokens"] == sum(len(s) + 1 for s in inputs)
    assert engine.pool_context.batches[0] == 4, "4 sequences per decode (the context's n_seq)"
    assert engine.pool_context.batches[1] == 2


async def test_token_arrays_are_embedded_as_given(fake):
    async with fake() as (client, _):
        by_text = (await client.post(EMB, json={"input": "ab"})).json()
        by_ids = (await client.post(EMB, json={"input": [0, 100, 101]})).json()
        many = (await client.post(EMB, json={"input": [[0, 100, 101], [5]]})).json()
    assert by_ids["data"][0]["embedding"] == by_text["data"][0]["embedding"]
    assert many["data"][0]["embedding"] == by_text["data"][0]["embedding"]
    assert len(many["data"]) == 2 and many["usage"]["prompt_tokens"] == 4


async def test_base64_is_the_float_vector_as_little_endian_float32(fake):
    async with fake() as (client, _):
        floats = (await client.post(EMB, json={"input": "hello"})).json()
        b64 = (await client.post(EMB, json={"input": "hello", "encoding_format": "base64"})).json()
    raw = base64.b64decode(b64["data"][0]["embedding"])
    decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
    expected = floats["data"][0]["embedding"]
    assert len(decoded) == len(expected)
    assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(decoded, expected, strict=True))


async def test_dimensions_only_as_the_models_own_size(fake):
    async with fake() as (client, _):
        same = await client.post(EMB, json={"input": "x", "dimensions": 8})
        short = await client.post(EMB, json={"input": "x", "dimensions": 4})
    assert same.status_code == 200
    assert short.status_code == 400
    assert short.json()["error"]["param"] == "dimensions"
    assert "8 dimensions" in short.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": ""}, "input"),
        ({"input": []}, "input"),
        ({"input": ["ok", ""]}, "input[1]"),
        ({"input": "x" * 64}, "input"),  # 65 tokens with BOS: over the fake's 64
        ({"input": [[1, 2], [3, 999]]}, "input[1]"),
        ({"input": [-1]}, "input"),
        ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"input": [1.5]}, "input"),
        ({"input": "x", "bogus": 1}, "bogus"),
        ({}, "input"),
    ],
)
async def test_bad_embedding_input_is_a_400_naming_the_field(fake, body, param):
    async with fake() as (client, _):
        r = await client.post(EMB, json=body)
        after = await client.post(EMB, json={"input": "still serving"})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] is not None and error["param"].startswith(param)
    assert after.status_code == 200


async def test_embeddings_of_another_model_is_a_404(fake):
    async with fake() as (client, _):
        r = await client.post(EMB, json={"model": "nope", "input": "x"})
    assert r.status_code == 404 and "nope" in r.json()["error"]["message"]


async def test_models_say_pooling_and_embeddings(fake):
    async with fake() as (client, _):
        meta = (await client.get("/v1/models")).json()["data"][0]["meta"]
    assert meta["embeddings"] is True and meta["rerank"] is False
    assert meta["pooling"] == "mean" and meta["pooling_source"].startswith("default")
    assert meta["embedding_dimensions"] == 8


async def test_rerank_sorts_by_score_and_cuts_to_top_n(fake):
    docs = ["zzz", "cat", {"text": "cab"}, "act"]
    body = {"model": "fake-model", "query": "cat", "documents": docs}
    async with fake(reranker()) as (client, _):
        full = (await client.post("/v1/rerank", json=body)).json()
        top = await client.post("/rerank", json={**body, "top_n": 2, "return_documents": True})
    results = full["results"]
    assert [r["index"] for r in results] == [1, 3, 2, 0]  # cat, act: 1.0 (tie: earlier first)
    assert [r["relevance_score"] for r in results] == [1.0, 1.0, 2 / 3, 0.0]
    assert all("document" not in r for r in results)
    # each sequence: BOS query(3) EOS SEP doc(3) EOS
    assert full["usage"] == {"prompt_tokens": 4 * 10, "total_tokens": 4 * 10}
    assert top.json()["results"] == [
        {"index": 1, "relevance_score": 1.0, "document": {"text": "cat"}},
        {"index": 3, "relevance_score": 1.0, "document": {"text": "act"}},
    ]


async def test_rerank_is_deterministic_and_batched(fake):
    body = {"query": "q", "documents": [f"doc {i} q" for i in range(6)]}
    async with fake(reranker()) as (client, engine):
        first = (await client.post("/v1/rerank", json=body)).json()
        second = (await client.post("/v1/rerank", json=body)).json()
    assert first["results"] == second["results"]
    assert engine.pool_context.batches[:2] == [4, 2]


async def test_rerank_on_an_embedding_model_is_a_400_naming_it(fake):
    async with fake() as (client, _):
        r = await client.post("/v1/rerank", json={"query": "q", "documents": ["d"]})
    assert r.status_code == 400
    assert "'fake-model' is not a reranker" in r.json()["error"]["message"]


async def test_embeddings_on_a_reranker_is_a_400_and_models_say_rerank(fake):
    async with fake(reranker()) as (client, _):
        r = await client.post(EMB, json={"input": "x", "dimensions": 3})
        meta = (await client.get("/v1/models")).json()["data"][0]["meta"]
    assert r.status_code == 400 and "is a reranker" in r.json()["error"]["message"]
    assert meta["rerank"] is True and meta["embeddings"] is False
    assert meta["pooling"] == "rank" and meta["pooling_source"] == "gguf"


@pytest.mark.parametrize(
    "body",
    [
        {"query": "", "documents": ["d"]},
        {"query": "q", "documents": []},
        {"query": "q", "documents": ["d"], "top_n": 0},
        {"query": "q", "documents": [{"title": "no text"}]},
        {"query": "q", "documents": ["x" * 60]},  # over 64 tokens with the query
    ],
)
async def test_bad_rerank_input_is_a_400(fake, body):
    async with fake(reranker()) as (client, _):
        r = await client.post("/v1/rerank", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"]


async def test_tokenize_and_detokenize_round_trip(fake):
    async with fake() as (client, _):
        plain = (await client.post("/tokenize", json={"content": "hé"})).json()
        special = await client.post("/tokenize", json={"content": "hé", "add_special": True})
        pieces = await client.post("/tokenize", json={"content": "hé", "with_pieces": True})
        back = await client.post("/detokenize", json={"tokens": special.json()["tokens"]})
    assert plain == {"tokens": [107, 198, 172]}  # 'h', and é's two UTF-8 bytes
    assert special.json() == {"tokens": [0, 107, 198, 172]}
    assert pieces.json()["tokens"] == [
        {"id": 107, "piece": "h"},
        {"id": 198, "piece": [0xC3]},  # half a character: its bytes, as llama-server
        {"id": 172, "piece": [0xA9]},
    ]
    assert back.json() == {"content": "<s>hé"}


async def test_tokenize_messages_applies_the_chat_template(fake):
    messages = [{"role": "user", "content": "hi"}]
    async with fake() as (client, _):
        r = await client.post("/tokenize", json={"messages": messages, "with_pieces": True})
    text = "".join(p["piece"] for p in r.json()["tokens"] if isinstance(p["piece"], str))
    assert "hi" in text and text != "hi", "the template wraps the message"
    assert text.endswith("assistant\n"), "with the generation prompt"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/tokenize", {}),
        ("/tokenize", {"content": "a", "messages": [{"role": "user", "content": "b"}]}),
        ("/detokenize", {"tokens": [5, 100000]}),
        ("/detokenize", {"tokens": "abc"}),
    ],
)
async def test_bad_tokenizer_input_is_a_400(fake, path, body):
    async with fake() as (client, _):
        r = await client.post(path, json=body)
    assert r.status_code == 400, r.text


@pytest.mark.parametrize(
    ("facts", "endpoint"),
    [
        (PoolingFacts("mean", True, 8, 64), "/v1/embeddings"),
        (PoolingFacts("rank", True, 1, 64), "/v1/rerank"),
    ],
)
async def test_generation_on_an_embedding_model_or_reranker_is_a_400(fake, facts, endpoint):
    async with fake(FakeEngine(facts=facts)) as (client, engine):
        chat = await client.post(
            "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}
        )
        text = await client.post("/v1/completions", json={"prompt": "hi"})
    for r in (chat, text):
        assert r.status_code == 400
        error = r.json()["error"]
        assert (
            "'fake-model' is an embedding model" in error["message"]
            and endpoint in error["message"]
        )
        assert error["code"] == "model_not_generative"
    assert engine.requests == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/messages", {"max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/responses", {"input": "hi"}),
    ],
)
async def test_the_other_dialects_refuse_generation_on_an_embedding_model(fake, path, body):
    async with fake(FakeEngine(facts=PoolingFacts("mean", True, 8, 64))) as (client, engine):
        r = await client.post(path, json={"model": "fake-model", **body})
    assert r.status_code == 400, r.text
    assert "'fake-model' is an embedding model" in r.text
    assert engine.requests == []
