"""OpenAI Responses on the real engine through the official openai client."""

from __future__ import annotations

import openai
import pytest
from openapi import validate, validate_response_event

pytestmark = pytest.mark.real
ASK = "What is the capital of France?"
GREEDY = {"temperature": 0}
OFF = {"effort": "none"}


@pytest.fixture(scope="module")
def client(thinker):
    return openai.OpenAI(base_url=f"{thinker.base_url}/v1", api_key="x", max_retries=0)


def test_create_answers_with_a_message_item(client):
    r = client.responses.create(
        model="thinker",
        input=ASK,
        instructions="Answer briefly.",
        reasoning=OFF,
        max_output_tokens=24,
        **GREEDY,
    )
    validate("Response", r.model_dump(mode="json", exclude_unset=True))
    assert r.status in ("completed", "incomplete") and r.output_text.strip()
    assert [item.type for item in r.output] == ["message"]
    assert "<think>" not in r.output_text and "</think>" not in r.output_text
    assert r.usage.input_tokens > 5 and r.usage.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens


def test_stream_helper_gives_the_same_response_as_create(client):
    args = dict(model="thinker", input=ASK, reasoning=OFF, max_output_tokens=12, **GREEDY)
    whole = client.responses.create(**args)
    kinds, numbers = [], []
    with client.responses.stream(**args) as stream:
        for event in stream:
            kinds.append(event.type)
            numbers.append(event.sequence_number)
            validate_response_event(event.model_dump(mode="json", exclude_unset=True))
        final = stream.get_final_response()
    assert numbers == list(range(len(numbers)))
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] in ("response.completed", "response.incomplete")
    assert final.output_text == whole.output_text and final.status == whole.status


def test_reasoning_effort_gives_a_reasoning_item(client):
    r = client.responses.create(
        model="thinker",
        input=ASK,
        reasoning={"effort": "low"},
        max_output_tokens=32,
        **GREEDY,
    )
    assert r.output[0].type == "reasoning"
    assert r.output[0].content and r.output[0].content[0].text.strip()
    assert r.usage.output_tokens_details.reasoning_tokens > 0
    assert "<think>" not in r.output[0].content[0].text


def test_max_output_tokens_is_incomplete(client):
    r = client.responses.create(
        model="thinker", input=ASK, reasoning=OFF, max_output_tokens=2, **GREEDY
    )
    assert r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens"
    assert r.usage.output_tokens == 2


def test_conversation_continues_by_previous_response_id(client):
    first = client.responses.create(
        model="thinker", input="My name is Ada.", reasoning=OFF, max_output_tokens=10, **GREEDY
    )
    assert client.responses.retrieve(first.id).output_text == first.output_text
    second = client.responses.create(
        model="thinker",
        input="What is my name?",
        previous_response_id=first.id,
        reasoning=OFF,
        max_output_tokens=10,
        **GREEDY,
    )
    alone = client.responses.create(
        model="thinker", input="What is my name?", reasoning=OFF, max_output_tokens=10, **GREEDY
    )
    assert second.usage.input_tokens > alone.usage.input_tokens + first.usage.output_tokens
    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="thinker", input="hi", previous_response_id=first.id)


def test_input_items_are_listed_in_cursor_pages(client):
    said = [f"Remember the number {n}." for n in range(5)]
    asked = [{"role": "user", "content": text} for text in said]
    r = client.responses.create(
        model="thinker", input=asked, reasoning=OFF, max_output_tokens=2, **GREEDY
    )
    first = client.responses.input_items.list(r.id, limit=2)
    validate("ResponseItemList", first.model_dump(mode="json", exclude_unset=True))
    assert len(first.data) == 2 and first.has_more and first.first_id == first.data[0].id
    newest_first = [
        item.content[0].text for item in client.responses.input_items.list(r.id, limit=2)
    ]
    asc = client.responses.input_items.list(
        r.id, order="asc", include=["message.input_image.image_url"]
    )
    after = client.responses.input_items.list(r.id, order="asc", after=asc.data[2].id, limit=1)
    assert newest_first == said[::-1]  # the SDK walked three pages by ``after``
    assert [item.content[0].text for item in asc.data] == said and not asc.has_more
    assert all(item.id.startswith("msg_") and item.role == "user" for item in asc.data)
    assert [item.id for item in after.data] == [asc.data[3].id] and after.has_more


def test_a_conversation_continues_by_item_reference(client):
    args = dict(model="thinker", reasoning=OFF, max_output_tokens=10, **GREEDY)
    first = client.responses.create(input="My name is Ada.", **args)
    asked = client.responses.input_items.list(first.id).data[0]
    question = {"role": "user", "content": "What is my name?"}
    by_previous = client.responses.create(input=[question], previous_response_id=first.id, **args)
    references = [
        {"type": "item_reference", "id": asked.id},
        {"type": "item_reference", "id": first.output[0].id},
        question,
    ]
    by_reference = client.responses.create(input=references, **args)
    sent_back = client.responses.create(input=[asked, *first.output, question], **args)
    for r in (by_reference, sent_back):
        assert r.usage.input_tokens == by_previous.usage.input_tokens
        assert r.output_text == by_previous.output_text
    listed = client.responses.input_items.list(by_reference.id, order="asc").data
    assert [item.id for item in listed[:2]] == [asked.id, first.output[0].id]
    with pytest.raises(openai.NotFoundError):
        client.responses.create(input=[{"type": "item_reference", "id": "msg_nope"}], **args)
    unkept = client.responses.create(input="hi", store=False, **args)
    with pytest.raises(openai.NotFoundError):
        client.responses.input_items.list(unkept.id)
    with pytest.raises(openai.BadRequestError):
        client.responses.create(input=references, previous_response_id=first.id, **args)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"model": "gpt-5"}, openai.NotFoundError),
        ({"temperature": 3}, openai.BadRequestError),
        ({"max_output_tokens": 0}, openai.BadRequestError),
        ({"reasoning": {"effort": "huge"}}, openai.BadRequestError),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]},
            openai.BadRequestError,
        ),
    ],
)
def test_bad_input_raises_the_sdk_exception(client, change, error):
    with pytest.raises(error) as caught:
        client.responses.create(**{"model": "thinker", "input": ASK, **change})
    validate("ErrorResponse", caught.value.body and {"error": caught.value.body})
    still = client.responses.create(model="thinker", input="hi", max_output_tokens=2)
    assert still.status == "incomplete"  # the server goes on serving
