"""``POST /v1/messages`` and ``/v1/messages/count_tokens``: near-empty, over the Service."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from freehold.api.anthropic.schemas import CountTokensRequest, ErrorResponse, MessagesRequest
from freehold.api.anthropic.stream import MessageWriter
from freehold.api.anthropic.translate import to_turn
from freehold.api.auth import require_api_key
from freehold.api.routes import STREAMED, service
from freehold.api.sse import send

ERROR = {"model": ErrorResponse, "description": "Anthropic-shaped error"}
router = APIRouter(
    prefix="/v1",
    dependencies=[Depends(require_api_key)],
    responses={"4XX": ERROR, 503: ERROR},
    tags=["anthropic"],
)


@router.post("/messages", responses=STREAMED)
async def create_message(body: MessagesRequest, request: Request) -> Response:
    svc = service(request)
    planned = await svc.prepare(to_turn(body))
    writer = MessageWriter(body.model, planned.hide_reasoning, svc.prompt_tokens(planned))
    return await send(request, svc.stream("messages", planned), writer, body.stream)


@router.post("/messages/count_tokens")
async def count_tokens(body: CountTokensRequest, request: Request) -> dict[str, int]:
    return {"input_tokens": await service(request).count_tokens(to_turn(body))}
