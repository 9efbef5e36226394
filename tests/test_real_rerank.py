"""Rerank on the real engine: a test reranker GGUF (SmolLM2's weights, a seeded
classification head, rank pooling; tests/reranker_gguf.py), over plain HTTP and through
LlamaIndex's Jina rerank integration, which speaks this shape."""

from __future__ import annotations

import httpx
import pytest
from realserver import RunningServer, running_server
from reranker_gguf import cached_reranker_gguf

pytestmark = pytest.mark.real
QUERY = "What is the capital of France?"
DOCS = [
    "Paris is the capital of France.",
    "Bananas are yellow.",
    "The Eiffel tower is in Paris.",
    "Rust is a systems programming language.",
    "France borders Spain.",
]


@pytest.fixture(scope="module")
def server(model_path, tmp_path_factory):
    gguf = cached_reranker_gguf(model_path, tmp_path_factory.getbasetemp() / "reranker")
    log = tmp_path_factory.mktemp("rerank") / "freehold.log"
    args = ["-m", str(gguf), "-c", "1024", "-np", "1", "-t", "2", "--alias", "ranker"]
    with running_server(args, log) as srv:
        yield srv


def rerank(server: RunningServer, path: str = "/v1/rerank", **body) -> httpx.Response:
    body = {"model": "ranker", "query": QUERY, "documents": DOCS, **body}
    return httpx.post(f"{server.base_url}{path}", json=body, timeout=120)


def test_models_say_rerank(server):
    meta = httpx.get(f"{server.base_url}/v1/models").json()["data"][0]["meta"]
    assert meta["rerank"] is True and meta["embeddings"] is False
    assert meta["pooling"] == "rank" and meta["pooling_source"] == "gguf"


def test_scores_are_deterministic_sorted_and_per_document(server):
    first = rerank(server).json()
    second = rerank(server).json()
    results = first["results"]
    assert results == second["results"]
    assert sorted(r["index"] for r in results) == list(range(len(DOCS)))
    scores = [r["relevance_score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert len(set(scores)) == len(DOCS), "each document gets its own score"
    alone = rerank(server, documents=[DOCS[results[0]["index"]]]).json()["results"]
    # a document's score does not depend on the others batched with it
    assert alone[0]["relevance_score"] == pytest.approx(scores[0], abs=1e-6)
    tokens = first["usage"]["prompt_tokens"]
    assert tokens == first["usage"]["total_tokens"] and tokens > sum(len(d.split()) for d in DOCS)


def test_top_n_and_return_documents(server):
    full = rerank(server).json()["results"]
    top = rerank(server, "/rerank", top_n=2, return_documents=True).json()["results"]
    assert [r["index"] for r in top] == [r["index"] for r in full[:2]]
    assert [r["document"] for r in top] == [{"text": DOCS[r["index"]]} for r in top]
    objects = rerank(server, documents=[{"text": d} for d in DOCS]).json()["results"]
    assert objects == full


def test_embeddings_on_a_reranker_is_a_400(server):
    r = httpx.post(f"{server.base_url}/v1/embeddings", json={"input": "x"})
    assert r.status_code == 400 and "'ranker' is a reranker" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [{"documents": []}, {"query": ""}, {"top_n": 0}, {"documents": ["word " * 600]}],
)
def test_bad_rerank_input_is_a_400(server, body):
    assert rerank(server, **body).status_code == 400
    assert rerank(server, top_n=1).status_code == 200


def test_llamaindex_jina_rerank(server):
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
    from llama_index.postprocessor.jinaai_rerank import JinaRerank

    reranker = JinaRerank(top_n=3, model="ranker", base_url=f"{server.base_url}/v1", api_key="x")
    nodes = [NodeWithScore(node=TextNode(text=d)) for d in DOCS]
    ranked = reranker.postprocess_nodes(nodes, QueryBundle(QUERY))
    expected = rerank(server, top_n=3).json()["results"]
    assert [n.node.get_content() for n in ranked] == [DOCS[r["index"]] for r in expected]
    assert [n.score for n in ranked] == [r["relevance_score"] for r in expected]
