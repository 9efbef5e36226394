"""``/v1/responses``: create (streamed or not); GET / DELETE of stored responses and the
list of their input items."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from freehold.api.auth import require_api_key
from freehold.api.responses.items import check_unique, input_items, page
from freehold.api.responses.schemas import InputItemsQuery, ResponsesRequest
from freehold.api.responses.store import Item, ResponseStore, Stored
from freehold.api.responses.stream import ResponseWriter
from freehold.api.responses.translate import conversation_of, skeleton, to_turn
from freehold.api.routes import RESPONSES, STREAMED, service
from freehold.api.sse import send

router = APIRouter(
    prefix="/v1", dependencies=[Depends(require_api_key)], responses=RESPONSES, tags=["responses"]
)


def response_store(request: Request) -> ResponseStore:
    return request.app.state.responses  # type: ignore[no-any-return]


@router.post("/responses", responses=STREAMED)
async def create_response(body: ResponsesRequest, request: Request) -> Response:
    svc, store = service(request), response_store(request)
    previous: tuple[Item, ...] = ()
    if body.previous_response_id is not None:
        previous = store.get(body.previous_response_id, "previous_response_id").context()
    items = (*previous, *input_items(body.input, store.find_item))
    check_unique(items, len(previous))
    planned = await svc.prepare(to_turn(body, conversation_of(items, len(previous))))
    keep = body.store is not False and store.size > 0
    response = skeleton(body, body.model or planned.model.id, keep)

    def remember(done: dict[str, Any]) -> None:
        store.put(Stored(done, items))

    writer = ResponseWriter(response, planned.hide_reasoning, remember if keep else None)
    return await send(request, svc.stream("responses", planned), writer, body.stream)


@router.get("/responses/{response_id}")
async def get_response(response_id: str, request: Request) -> dict[str, Any]:
    return response_store(request).get(response_id).response


@router.get("/responses/{response_id}/input_items")
async def list_input_items(
    response_id: str, request: Request, query: Annotated[InputItemsQuery, Query()]
) -> dict[str, Any]:
    """The items the response was generated from, a cursor page of them."""
    items = response_store(request).get(response_id).items
    return page(items, query.limit, query.order, query.after, query.before)


@router.delete("/responses/{response_id}")
async def delete_response(response_id: str, request: Request) -> dict[str, Any]:
    response_store(request).delete(response_id)
    return {"id": response_id, "object": "response", "deleted": True}
