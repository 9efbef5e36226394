"""HTTP routes: near-empty functions over the Service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from freehold.api.auth import require_api_key
from freehold.api.metrics import CONTENT_TYPE_LATEST
from freehold.api.openai_turn import chat_turn, completion_turn, openai_writer
from freehold.api.schemas import ChatCompletionRequest, CompletionRequest, ErrorResponse, Sampling
from freehold.api.service import ModelView, Service
from freehold.api.sse import send
from freehold.api.translate import response_id
from freehold.api.turn import Turn
from freehold.engine.lora import Adapter
from freehold.engine.registry import Entry
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


def entry_card(svc: Service, entry: Entry, capabilities: bool = True) -> dict[str, Any]:
    """The card of a configured model, loaded or not, with its status."""
    view: ModelView | None = svc.view(entry)
    info = view.info if view is not None else ModelInfo(id=entry.id, path=entry.spec.path)
    names = [n for n in svc.registry.names_of(entry) if n != entry.id]
    extra: dict[str, Any] = {"status": entry.status}
    if view is not None and capabilities:
        extra.update(view.capabilities())
    card = model_card(info, extra)
    card["meta"]["aliases"] = sorted(set(names) | set(info.aliases))
    card["status"] = entry.status
    return card


def adapter_card(base: dict[str, Any], adapter: Adapter) -> dict[str, Any]:
    """A LoRA adapter's card: its model's, as MODEL:NAME, with the adapter's facts."""
    meta = {
        **base["meta"],
        "aliases": [],
        "adapter": {"name": adapter.name, "scale": adapter.scale},
    }
    return {**base, "id": f"{base['id']}:{adapter.name}", "meta": {**meta, "base": base["id"]}}


@health.get("/health")
async def get_health(request: Request) -> JSONResponse:
    svc = service(request)
    default = svc.registry.default.engine
    failure = default.failure if default is not None else None
    if failure is not None:
        err = FreeholdError(failure, status=503, type="server_error", code="engine_failed")
        return JSONResponse({"status": "failed", **err.to_dict()}, status_code=503)
    if not svc.registry.started:
        err = FreeholdError(
            "the model is loading", status=503, type="server_error", code="model_not_ready"
        )
        return JSONResponse(
            {"status": "loading", **err.to_dict()}, status_code=503, headers={"Retry-After": "2"}
        )
    registry = svc.registry
    card = entry_card(svc, registry.default, capabilities=False)
    del card["meta"]["path"]  # /health is open to all: no file system paths in it
    models = {e.id: e.status for e in registry.entries()}
    return JSONResponse({"status": "ok", "model": card, "models": models, "slots": registry.load()})


@health.get("/metrics", response_class=PlainTextResponse)
async def get_metrics(request: Request) -> Response:
    metrics = request.app.state.metrics
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)


@v1.get("/models")
async def list_models(request: Request) -> dict[str, Any]:
    svc = service(request)
    svc.check_started()  # 503 while the default model loads at startup
    cards = []
    for entry in svc.registry.entries():
        cards.append(entry_card(svc, entry))
        cards += [adapter_card(cards[-1], a) for a in entry.spec.adapters]
    return {"object": "list", "data": cards}


@v1.get("/models/{model_id:path}")
async def get_model(model_id: str, request: Request) -> dict[str, Any]:
    svc = service(request)
    entry, adapter = svc.registry.lookup(model_id)  # 404 for a model not configured
    svc.check_started()
    card = entry_card(svc, entry)
    return adapter_card(card, adapter) if adapter is not None else card


@v1.post("/chat/completions", responses=STREAMED)
async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
    return await generate(request, body, chat_turn(body), "chat")


@v1.post("/completions", responses=STREAMED)
async def completions(body: CompletionRequest, request: Request) -> Response:
    return await generate(request, body, completion_turn(body), "completions")


async def generate(request: Request, body: Sampling, turn: Turn, endpoint: str) -> Response:
    """An OpenAI body's Turn planned, run and written as chat (or text) completions."""
    svc = service(request)
    planned = await svc.prepare(turn, response_id(endpoint == "chat"))
    writer = openai_writer(body, planned)
    return await send(request, svc.stream(endpoint, planned), writer, body.stream)
