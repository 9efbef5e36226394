"""HTTP routes: near-empty functions over the Service."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from freehold.api.auth import require_api_key
from freehold.api.metrics import CONTENT_TYPE_LATEST
from freehold.api.schemas import ChatCompletionRequest, CompletionRequest, ErrorResponse
from freehold.api.service import Service
from freehold.api.sse import respond
from freehold.engine.types import ModelInfo
from freehold.errors import FreeholdError

# Declared for the OpenAPI document (and the fuzz tests that read it): any 4xx, and a 503
# while the model loads or the server stops, has OpenAI's error shape.
ERROR = {"model": ErrorResponse, "description": "OpenAI-shaped error"}
RESPONSES: dict[int | str, dict[str, Any]] = {"4XX": ERROR, 503: ERROR}
STREAMED: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}, "text/event-stream": {}}}
}

health = APIRouter()
v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)], responses=RESPONSES)


def service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


def model_card(info: ModelInfo, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": info.id,
        "object": "model",
        "created": info.created,
        "owned_by": info.owned_by,
        "meta": {
            "context_length": info.context_length,
            "slot_context": info.n_ctx_slot,
            "architecture": info.architecture,
            "quantization": info.quantization,
            "parameters": info.n_params,
            "size_bytes": info.size_bytes,
            "aliases": list(info.aliases),
            "path": info.path,
            "chat_template": info.chat_template is not None,
            "repack": info.repack,
            **(extra or {}),
        },
    }


@health.get("/health")
async def get_health(request: Request) -> JSONResponse:
    svc = service(request)
    if svc.engine.failure is not None:
        err = FreeholdError(
            svc.engine.failure, status=503, type="server_error", code="engine_failed"
        )
        return JSONResponse({"status": "failed", **err.to_dict()}, status_code=503)
    if not svc.engine.ready:
        err = FreeholdError(
            "the model is loading", status=503, type="server_error", code="model_not_ready"
        )
        return JSONResponse(
            {"status": "loading", **err.to_dict()}, status_code=503, headers={"Retry-After": "2"}
        )
    card = model_card(svc.engine.info)
    del card["meta"]["path"]  # /health is open to all: no file system paths in it
    return JSONResponse({"status": "ok", "model": card, "slots": svc.engine.load()})


@health.get("/metrics", response_class=PlainTextResponse)
async def get_metrics(request: Request) -> Response:
    metrics = request.app.state.metrics
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)


@v1.get("/models")
async def list_models(request: Request) -> dict[str, Any]:
    svc = service(request)
    svc.check_model(None)  # 503 while loading: the card is not known yet
    return {"object": "list", "data": [model_card(svc.engine.info, svc.capabilities())]}


@v1.get("/models/{model_id:path}")
async def get_model(model_id: str, request: Request) -> dict[str, Any]:
    svc = service(request)
    svc.check_model(model_id)  # 404 for another model, 503 while loading
    return model_card(svc.engine.info, svc.capabilities())


@v1.post("/chat/completions", responses=STREAMED)
async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
    svc = service(request)
    prepared = await asyncio.to_thread(svc.chat, body)  # a template may run for long
    return await respond(request, prepared, svc.generate(prepared), body.stream)


@v1.post("/completions", responses=STREAMED)
async def completions(body: CompletionRequest, request: Request) -> Response:
    svc = service(request)
    prepared = svc.completion(body)
    return await respond(request, prepared, svc.generate(prepared), body.stream)
