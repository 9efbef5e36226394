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
