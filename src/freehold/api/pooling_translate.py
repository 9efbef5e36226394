"""Pure translation between the pooling endpoints' wire shapes and the Pooler's results."""

from __future__ import annotations

import base64
import struct
from typing import Any

from freehold.api.pooling_schemas import EmbeddingRequest, RerankDocument, RerankRequest
from freehold.engine.pooler import Pooled
from freehold.engine.pooling import PoolingFacts
from freehold.engine.vocab import piece_value
from freehold.errors import bad_request


def embedding_inputs(body: EmbeddingRequest) -> list[str] | list[list[int]]:
    """The request's inputs as a list: one string, strings, one token array, arrays."""
    value = body.input
    if isinstance(value, str):
        return [value]
    if value and isinstance(value[0], int):
        return [value]  # type: ignore[list-item]
    return value  # type: ignore[return-value]


def check_dimensions(body: EmbeddingRequest, facts: PoolingFacts) -> None:
    """``dimensions`` is accepted only as the model's own size: shortening a vector is
    meaningful for Matryoshka-trained models alone, and a GGUF does not say which are."""
    if body.dimensions is not None and body.dimensions != facts.n_embd:
        raise bad_request(
            f"this model's embeddings have {facts.n_embd} dimensions and it cannot shorten "
            f"them; 'dimensions' must be omitted or {facts.n_embd}",
            param="dimensions",
            code="unsupported_value",
        )


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":  # little-endian float32, as OpenAI's SDK decodes it
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


def usage(tokens: int) -> dict[str, int]:
    return {"prompt_tokens": tokens, "total_tokens": tokens}


def embedding_response(pooled: Pooled, model: str, encoding: str) -> dict[str, Any]:
    data = [
        {"object": "embedding", "index": i, "embedding": _encode(v, encoding)}
        for i, v in enumerate(pooled.outputs)
    ]
    return {"object": "list", "data": data, "model": model, "usage": usage(pooled.prompt_tokens)}


def document_texts(body: RerankRequest) -> list[str]:
    return [d.text if isinstance(d, RerankDocument) else d for d in body.documents]


def rerank_response(
    pooled: Pooled, body: RerankRequest, texts: list[str], model: str
) -> dict[str, Any]:
    """Results sorted by score (ties: the earlier document first), cut to ``top_n``."""
    order = sorted(range(len(texts)), key=lambda i: (-pooled.outputs[i][0], i))
    results = []
    for i in order[: body.top_n]:
        result: dict[str, Any] = {"index": i, "relevance_score": pooled.outputs[i][0]}
        if body.return_documents:
            result["document"] = {"text": texts[i]}
        results.append(result)
    return {
        "object": "list",
        "model": model,
        "results": results,
        "usage": usage(pooled.prompt_tokens),
    }


def tokenize_response(tokens: list[int], pieces: list[bytes] | None) -> dict[str, Any]:
    if pieces is None:
        return {"tokens": tokens}
    return {
        "tokens": [{"id": t, "piece": piece_value(p)} for t, p in zip(tokens, pieces, strict=True)]
    }
