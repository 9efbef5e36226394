"""``/v1/responses``: create (streamed or not), and GET / DELETE of stored responses."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from freehold.api.auth import require_api_key
from freehold.api.responses.schemas import ResponsesRequest
from freehold.api.responses.store import ResponseStore, Stored
from freehold.api.responses.stream import ResponseWriter
from freehold.api.responses.translate import (
    conversation_of,
    output_messages,
    skeleton,
    to_turn,
)
from freehold.api.routes import RESPONSES, STREAMED, service
from freehold.api.sse import send
from freehold.api.turn import Message

router = APIRouter(
    prefix="/v1", dependencies=[Depends(require_api_key)], responses=RESPONSES, tags=["responses"]
)


def response_store(request: Request) -> ResponseStore:
    return request.app.state.responses  # type: ignore[no-any-return]


@router.post("/responses", responses=STREAMED)
async def create_response(body: ResponsesRequest, request: Request) -> Response:
    svc, store = service(request), response_store(request)
    previous: tuple[Message, ...] = ()
    if body.previous_response_id is not None:
        previous = store.get(body.previous_response_id, "previous_response_id").messages
    conversation = conversation_of(body, previous)
    planned = await svc.prepare(to_turn(body, conversation))
    keep = body.store is not False and store.size > 0
    response = skeleton(body, body.model or planned.model.id, keep)

    def remember(done: dict[str, Any]) -> None:
        store.put(Stored(done, (*conversation, *output_messages(done))))

    writer = ResponseWriter(response, planned.hide_reasoning, remember if keep else None)
    return await send(request, svc.stream("responses", planned), writer, body.stream)


@router.get("/responses/{response_id}")
async def get_response(response_id: str, request: Request) -> dict[str, Any]:
    return response_store(request).get(response_id).response


@router.delete("/responses/{response_id}")
async def delete_response(response_id: str, request: Request) -> dict[str, Any]:
    response_store(request).delete(response_id)
    return {"id": response_id, "object": "response", "deleted": True}
