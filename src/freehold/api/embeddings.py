"""Routes of the pooling workloads and the tokenizer: POST /v1/embeddings, /v1/rerank (and
/rerank), /tokenize, /detokenize. Near-empty functions over the engine's Pooler and Vocab."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request

from freehold.api import pooling_translate as tr
from freehold.api.auth import require_api_key
from freehold.api.pooling_schemas import (
    DetokenizeRequest,
    EmbeddingRequest,
    RerankRequest,
    TokenizeRequest,
)
from freehold.api.routes import RESPONSES, service
from freehold.api.service import ModelView
from freehold.api.translate import message_dicts
from freehold.chat.template import render
from freehold.engine.vocab import detokenize
from freehold.errors import bad_request

pooling_v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)], responses=RESPONSES)
pooling_root = APIRouter(dependencies=[Depends(require_api_key)], responses=RESPONSES)


@pooling_v1.post("/embeddings")
async def embeddings(body: EmbeddingRequest, request: Request) -> dict[str, Any]:
    async with service(request).using(body.model) as (model, engine):
        pooler = engine.pooler
        pooler.require_embeddings()
        tr.check_dimensions(body, pooler.facts)
        pooled = await pooler.embed(tr.embedding_inputs(body))
    return tr.embedding_response(pooled, model.id, body.encoding_format)


@pooling_v1.post("/rerank")
@pooling_root.post("/rerank")
async def rerank(body: RerankRequest, request: Request) -> dict[str, Any]:
    async with service(request).using(body.model) as (model, engine):
        texts = tr.document_texts(body)
        pooled = await engine.pooler.rerank(body.query, texts)
    return tr.rerank_response(pooled, body, texts, model.id)


@pooling_root.post("/tokenize")
async def tokenize(body: TokenizeRequest, request: Request) -> dict[str, Any]:
    async with service(request).using(body.model) as (model, engine):
        vocab = engine.vocab
        text = await asyncio.to_thread(tokenize_text, model, body)  # a template may run long
        tokens = await asyncio.to_thread(vocab.tokenize, text, body.add_special)
        pieces = [vocab.piece(t, True) for t in tokens] if body.with_pieces else None
    return tr.tokenize_response(tokens, pieces)


@pooling_root.post("/detokenize")
async def detokenize_route(body: DetokenizeRequest, request: Request) -> dict[str, Any]:
    async with service(request).using(body.model) as (_, engine):
        return {"content": detokenize(engine.vocab, body.tokens)}


def tokenize_text(model: ModelView, body: TokenizeRequest) -> str:
    """``content`` as it is, or ``messages`` rendered by the chat template in force."""
    if (body.content is None) == (body.messages is None):
        raise bad_request("send either 'content' or 'messages'", param="content")
    if body.messages is None:
        return body.content or ""
    info = model.info
    return render(
        model.template,
        message_dicts(body.messages),
        bos_token=info.bos_token,
        eos_token=info.eos_token,
        add_generation_prompt=body.add_generation_prompt,
    )
