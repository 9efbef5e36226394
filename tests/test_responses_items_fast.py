"""Responses' input items over a scripted FakeEngine: ``GET /v1/responses/{id}/input_items``
(shapes validated against OpenAI's spec and the openai SDK's types, cursor pages),
``item_reference`` and output items sent back as input, ``store: false``."""

from __future__ import annotations

from typing import Any

import pytest
from named_sse import named_events
from openai.types.responses import ResponseItem
from openapi import validate
from pydantic import TypeAdapter
from test_responses_fast import BASE, RESPONSES, WEATHER
from test_tools_routes import tool_engine

from freehold.engine.fake import FakeEngine

pytestmark = pytest.mark.anyio
ITEM = TypeAdapter(ResponseItem)
HISTORY = [
    {"role": "developer", "content": "Be brief."},
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
    {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    {"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": "hm"}]},
    {"role": "assistant", "content": "It is sunny."},
    {"role": "user", "content": "And tomorrow?"},
]


async def create(client: Any, **body: Any) -> dict[str, Any]:
    r = await client.post(RESPONSES, json={**BASE, **body})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def listed(client: Any, response_id: str, **query: Any) -> dict[str, Any]:
    r = await client.get(f"{RESPONSES}/{response_id}/input_items", params=query)
    assert r.status_code == 200, r.text
    page = r.json()
    if page["data"]:
        validate("ResponseItemList", page)
    for item in page["data"]:
        ITEM.validate_python(item)
    return page  # type: ignore[no-any-return]


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["data"]]


async def test_a_string_input_is_one_user_message(fake):
    async with fake() as (client, engine):
        r = await create(client, input="Tell me a story.")
        page = await listed(client, r["id"])
    (item,) = page["data"]
    assert item["id"].startswith("msg_") and item["type"] == "message"
    assert item["role"] == "user" and item["status"] == "completed"
    assert item["content"] == [{"type": "input_text", "text": "Tell me a story."}]
    assert page["first_id"] == page["last_id"] == item["id"] and page["has_more"] is False


async def test_items_are_listed_newest_first_in_openai_shapes(fake):
    async with fake() as (client, engine):
        r = await create(client, input=HISTORY)
        newest_first = await listed(client, r["id"])
        oldest_first = await listed(client, r["id"], order="asc")
    items = oldest_first["data"]
    assert newest_first["data"] == items[::-1]
    assert [item["type"] for item in items] == [
        "message", "message", "function_call", "function_call_output", "reasoning",
        "message", "message",
    ]  # fmt: skip
    prefixes = [item["id"].split("_")[0] for item in items]
    assert prefixes == ["msg", "msg", "fc", "fco", "rs", "msg", "msg"]
    assert len(set(ids(oldest_first))) == len(items)
    assert items[0]["role"] == "developer"
    assert items[0]["content"] == [{"type": "input_text", "text": "Be brief."}]
    assert items[2]["call_id"] == "call_1" and items[2]["status"] == "completed"
    assert items[3]["output"] == "sunny"
    assert items[4]["content"] == [{"type": "reasoning_text", "text": "hm"}]
    assert items[5]["role"] == "assistant"
    assert items[5]["content"] == [
        {"type": "output_text", "text": "It is sunny.", "annotations": [], "logprobs": []}
    ]


async def test_cursor_pages_walk_the_items_both_ways(fake):
    async with fake() as (client, engine):
        r = await create(client, input=HISTORY)
        every = ids(await listed(client, r["id"], limit=100))
        walked, after = [], None
        for _ in range(len(every)):  # bounded: at most one page per item
            page = await listed(client, r["id"], limit=3, **({"after": after} if after else {}))
            walked += ids(page)
            assert page["first_id"] == ids(page)[0] and page["last_id"] == ids(page)[-1]
            if not page["has_more"]:
                break
            after = page["last_id"]
        back = await listed(client, r["id"], before=every[2], limit=1)
        between = await listed(client, r["id"], after=every[0], before=every[3])
        asc = await listed(client, r["id"], order="asc", after=every[1], limit=5)
        past_the_end = await listed(client, r["id"], after=every[-1])
    assert walked == every and len(every) == len(HISTORY)
    assert ids(back) == [every[1]] and back["has_more"] is True
    assert ids(between) == every[1:3] and between["has_more"] is False
    assert ids(asc) == [every[0]] and asc["has_more"] is False
    assert past_the_end == {
        "object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False
    }  # fmt: skip


async def test_pages_hold_20_items_unless_asked_and_streamed_responses_list_theirs(fake):
    many = [{"role": "user", "content": f"line {n}"} for n in range(21)]
    async with fake() as (client, engine):
        r = await client.post(RESPONSES, json={**BASE, "input": many, "stream": True})
        response_id = named_events(r.text)[-1][1]["response"]["id"]
        default = await listed(client, response_id)
        hundred = await listed(client, response_id, limit=100)
    assert len(default["data"]) == 20 and default["has_more"] is True
    assert default["data"][0]["content"][0]["text"] == "line 20"
    assert len(hundred["data"]) == 21 and hundred["has_more"] is False


async def test_a_continued_response_lists_the_whole_conversation(fake):
    async with fake(FakeEngine(script=["Hi", " Ada"])) as (client, engine):
        first = await create(client, input="My name is Ada.")
        second = await create(client, input="My name?", previous_response_id=first["id"])
        page = await listed(client, second["id"], order="asc")
    said = ["".join(part["text"] for part in item["content"]) for item in page["data"]]
    assert said == ["My name is Ada.", "Hi Ada", "My name?"]
    assert page["data"][1] == first["output"][0]


async def test_item_references_resolve_to_stored_items(fake):
    async with fake(FakeEngine(script=["Hello", " Ada"])) as (client, engine):
        first = await create(client, input="My name is Ada.", instructions="Be kind.")
        asked = (await listed(client, first["id"]))["data"][0]
        answer = first["output"][0]
        refs = [
            {"type": "item_reference", "id": asked["id"]},
            {"id": answer["id"]},  # the type may be left out
            {"role": "user", "content": "What is my name?"},
        ]
        second = await create(client, input=refs)
        page = await listed(client, second["id"], order="asc")
    assert page["data"][:2] == [asked, answer] and len(page["data"]) == 3
    prompt = engine.requests[1].prompt
    assert prompt.index("My name is Ada.") < prompt.index("Hello Ada")
    assert prompt.index("Hello Ada") < prompt.index("What is my name?")
    assert "Be kind." not in prompt  # instructions do not carry over


async def test_output_items_sent_back_keep_their_ids_and_can_be_referenced(fake):
    async with fake(tool_engine()) as (client, engine):
        tooly = {"model": "tooly", "tools": [WEATHER]}
        first = await create(client, input="Weather in Paris?", **tooly)
        call = first["output"][-1]
        assert call["type"] == "function_call" and call["id"].startswith("fc_")
        answer = {"type": "function_call_output", "call_id": call["call_id"], "output": "21 C"}
        sent_back = [{"role": "user", "content": "Weather in Paris?"}, *first["output"], answer]
        second = await create(client, input=sent_back, **tooly)
        by_reference = [{"type": "item_reference", "id": call["id"]}, answer]
        third = await create(client, input=by_reference, **tooly)
        listed_second = await listed(client, second["id"], order="asc")
    assert listed_second["data"][1:3] == first["output"]
    turns = [r.prompt.split("<|im_start|>assistant\n")[1] for r in engine.requests[1:]]
    assert turns[0].startswith("Let me look.\n<tool_call>")  # one turn: text, then call
    assert turns[1].startswith("<tool_call>")
    for turn in turns:
        assert turn.index('{"name": "get_weather"') < turn.index("21 C")
    assert second["status"] == third["status"] == "completed"


@pytest.mark.parametrize("where", ["previous_response_id", "input"])
async def test_duplicate_items_are_refused(fake, where):
    async with fake() as (client, engine):
        first = await create(client)
        again = {"type": "item_reference", "id": first["output"][0]["id"]}
        body: dict[str, Any] = {"input": [again, {"role": "user", "content": "more"}]}
        if where == "previous_response_id":
            body["previous_response_id"] = first["id"]
        else:
            body["input"] = [*body["input"], again]
        r = await client.post(RESPONSES, json={**BASE, **body})
    assert r.status_code == 400, r.text
    validate("ErrorResponse", r.json())
    error = r.json()["error"]
    assert error["code"] == "duplicate_item" and first["output"][0]["id"] in error["message"]
    assert error["param"] == ("input.0" if where == "previous_response_id" else "input.2")


async def test_unstored_responses_cannot_be_read_continued_or_referenced(fake):
    async with fake() as (client, engine):
        unkept = await create(client, store=False)
        output_id = unkept["output"][0]["id"]
        answers = [
            await client.get(f"{RESPONSES}/{unkept['id']}"),
            await client.get(f"{RESPONSES}/{unkept['id']}/input_items"),
            await client.delete(f"{RESPONSES}/{unkept['id']}"),
            await client.post(RESPONSES, json={**BASE, "previous_response_id": unkept["id"]}),
            await client.post(
                RESPONSES, json={**BASE, "input": [{"type": "item_reference", "id": output_id}]}
            ),
        ]
    assert unkept["store"] is False
    for r in answers:
        assert r.status_code == 404, r.text
        validate("ErrorResponse", r.json())
        assert r.json()["error"]["type"] == "not_found_error"
    assert answers[3].json()["error"]["param"] == "previous_response_id"
    assert answers[4].json()["error"]["param"] == "input.0.id"


async def test_items_of_dropped_responses_are_gone(fake):
    async with fake(responses_store=1) as (client, engine):
        first = await create(client, input="one")
        await create(client, input="two")
        ref = {"type": "item_reference", "id": first["output"][0]["id"]}
        r = await client.post(RESPONSES, json={**BASE, "input": [ref]})
    assert r.status_code == 404 and r.json()["error"]["param"] == "input.0.id"


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"order": "sideways"}, "order"),
        ({"after": "msg_nope"}, "after"),
        ({"before": "msg_nope"}, "before"),
        ({"include": "everything"}, "include"),
        ({"include[]": "everything"}, "include[]"),
    ],
)
async def test_bad_list_queries_are_400s_naming_the_parameter(fake, query, param):
    async with fake() as (client, engine):
        r = await create(client)
        bad = await client.get(f"{RESPONSES}/{r['id']}/input_items", params=query)
        fine = await client.get(
            f"{RESPONSES}/{r['id']}/input_items",
            params=[("include[]", "message.input_image.image_url"), ("limit", "1")],
        )
    assert bad.status_code == 400, bad.text
    validate("ErrorResponse", bad.json())
    assert (bad.json()["error"]["param"] or "").startswith(param), bad.json()
    assert fine.status_code == 200 and len(fine.json()["data"]) == 1


@pytest.mark.parametrize(
    "item",
    [
        {"type": "item_reference", "id": "msg_nope"},
        {"id": "msg_nope"},
        {"type": "item_reference"},
        {"role": "user", "content": "x", "id": ["a"]},
        {"role": "user", "content": "x", "id": ""},
        {"role": "user", "content": "x", "status": "lost"},
    ],
)
async def test_bad_item_references_are_4xx(fake, item):
    async with fake() as (client, engine):
        r = await client.post(RESPONSES, json={**BASE, "input": [item]})
        missing = await client.get(f"{RESPONSES}/resp_nope/input_items")
    assert r.status_code in (400, 404), r.text
    validate("ErrorResponse", r.json())
    assert (r.json()["error"]["param"] or "").startswith("input"), r.json()
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
