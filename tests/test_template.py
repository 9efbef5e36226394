"""Prompt rendering: the sandbox holds, templates' own errors are clear, ChatML fallback."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from freehold.api.metrics import Metrics
from freehold.api.service import Service
from freehold.chat.template import CHATML, choose_template, load_template_text, render
from freehold.config import Settings
from freehold.engine.fake import FakeEngine
from freehold.errors import FreeholdError

HI = [{"role": "user", "content": "hi"}]
ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ messages.__class__.__init__.__globals__['os'].system('touch /tmp/pwned') }}",
    "{% set x = cycler.__init__.__globals__.os.popen('id').read() %}{{ x }}",
    "{{ messages.append({'role': 'x'}) }}",  # immutable sandbox: no mutating data
]


@pytest.mark.parametrize("template", ESCAPES)
def test_template_reaching_python_internals_fails_to_render(template, tmp_path):
    with pytest.raises(FreeholdError) as info:
        render(template, HI)
    assert info.value.status == 500 and info.value.code == "chat_template_error"
    assert "template" in info.value.message


def test_raise_exception_in_template_is_a_client_error():
    template = "{{ raise_exception('Conversation roles must alternate') }}"
    with pytest.raises(FreeholdError) as info:
        render(template, HI)
    assert info.value.status == 400 and "roles must alternate" in info.value.message


def test_chatml_render_and_generation_prompt():
    text = render(CHATML, [{"role": "system", "content": "S"}, *HI])
    assert (
        text == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_fallback_warns_and_override_wins(caplog, tmp_path):
    with caplog.at_level(logging.WARNING):
        assert choose_template(None, None, "chatml") == CHATML
    assert "no chat template" in caplog.text
    path = tmp_path / "t.jinja"
    path.write_text("{{ messages[0]['content'] }}!")
    assert choose_template("{{ 'model' }}", str(path), "chatml") == "{{ messages[0]['content'] }}!"
    assert load_template_text("{{ x }}") == "{{ x }}"


# Safe for a plain chat (so the server loads it) but unsafe once a system message comes.
UNSAFE_WITH_SYSTEM = (
    "{% if messages[0]['role'] == 'system' %}{{ ''.__class__.__mro__ }}{% endif %}" + CHATML
)


@pytest.mark.anyio
async def test_template_failing_on_one_request_gives_error_json_and_server_keeps_serving(fake):
    chat = "/v1/chat/completions"
    async with fake(FakeEngine(), chat_template=UNSAFE_WITH_SYSTEM) as (client, _):
        r = await client.post(chat, json={"messages": [{"role": "system", "content": "S"}]})
        ok = await client.post(chat, json={"messages": HI})
    assert r.status_code == 500 and r.json()["error"]["code"] == "chat_template_error"
    assert "unsafe" in r.json()["error"]["message"]
    assert ok.status_code == 200


def test_load_check_names_the_model_and_the_reason():
    engine = FakeEngine()
    engine.info = replace(engine.info, chat_template=ESCAPES[1], path="/m/evil.gguf")
    service = Service(Settings(), engine, Metrics(engine.load))
    with pytest.raises(FreeholdError) as info:
        service.check_template()
    message = info.value.message
    assert "'fake-model' (/m/evil.gguf)" in message and "unsafe" in message
    assert "--chat-template" in message


def test_load_check_accepts_a_template_that_only_refuses_some_conversations():
    engine = FakeEngine()
    rule = "{% if messages[0]['role'] == 'user' %}{{ raise_exception('system first') }}{% endif %}"
    engine.info = replace(engine.info, chat_template=rule)
    Service(Settings(), engine, Metrics(engine.load)).check_template()  # no error
