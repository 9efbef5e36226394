"""The chat page in a real headless browser against freehold on SmolLM2: the accessible
names of the contract, streaming, Stop, storage, errors, safe Markdown, the API key, and
the reasoning switch on the thinking test model. Screenshots go to tmp/artifacts/."""

from __future__ import annotations

import json
import re
from contextlib import contextmanager

import httpx
import pytest
from browser import fresh_page, launched, require_chromium, screenshot
from realserver import running_server, smollm2_server
from thinking_gguf import cached_thinking_gguf

CHROMIUM = require_chromium()
from playwright.sync_api import expect  # noqa: E402  (after the skip where it is missing)

expect.set_options(timeout=180_000)  # a whole reply on a busy 2-core machine

pytestmark = pytest.mark.real
KEY = "page-key"
USAGE = re.compile(r"\d+ prompt tokens · \d+ generated · [\d.]+ tok/s")
TURNS = "[data-role]"


@pytest.fixture(scope="module")
def plain(model_path, tmp_path_factory):
    """SmolLM2 with one slot of 4,096 tokens and no queue: a long message overflows, and a
    request while the slot is busy is refused (429). The context is large enough that the
    reply holding the slot (4,000 tokens) cannot end before the page's request arrives."""
    log = tmp_path_factory.mktemp("webui") / "freehold.log"
    with smollm2_server(model_path, log, "-c", "4096", "-np", "1", "--max-queue", "0") as srv:
        yield srv


@pytest.fixture(scope="module")
def thinking(model_path, tmp_path_factory):
    """The thinking test model behind an API key."""
    gguf = cached_thinking_gguf(model_path, tmp_path_factory.getbasetemp() / "thinking")
    log = tmp_path_factory.mktemp("webui-thinking") / "freehold.log"
    args = ["-m", str(gguf), "-c", "1024", "-np", "1", "-t", "2", "--alias", "thinker"]
    with running_server([*args, "--api-key", KEY], log) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    with launched(CHROMIUM) as chromium:
        yield chromium


@pytest.fixture
def page(browser):
    with fresh_page(browser) as tab:
        yield tab


def cap_replies(page, max_tokens: int) -> list[dict]:
    """Pass the page's chat requests on with ``max_tokens`` added (the page sends none; a
    cap keeps the suite fast) and greedy decoding (a sampled 12-token answer of the tiny
    model was sometimes only whitespace: the page then showed an empty reply, rightly);
    returns the bodies the page sent, as it sent them."""
    sent: list[dict] = []

    def handle(route):
        body = route.request.post_data_json
        sent.append(body)
        route.continue_(post_data=json.dumps({**body, "max_tokens": max_tokens, "temperature": 0}))

    page.route("**/v1/chat/completions", handle)
    return sent


@contextmanager
def slot_held(server):
    """A long reply streaming from ``server`` (its one slot busy) until the block ends."""
    body = {"messages": [{"role": "user", "content": "Tell a story."}], "stream": True,
            "max_tokens": 4000, "ignore_eos": True}  # fmt: skip
    with httpx.stream("POST", f"{server.base_url}/v1/chat/completions", json=body, timeout=60) as r:
        assert r.status_code == 200
        # keep the line iterator referenced: a generator expression over r.iter_lines()
        # is collected after next(), and closing it closes the connection (httpcore), so
        # the server rightly cancels the held reply and the slot was free for the page
        lines = r.iter_lines()
        next(line for line in lines if line.startswith("data:"))
        yield
        health = httpx.get(f"{server.base_url}/health", timeout=10).json()
        assert health["slots"]["inflight"] == 1, health  # still held after the page's turn
    assert server.wait_idle(60), "the held reply did not end when its client left"


def send(page, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")


def last_reply(page):
    return page.locator('[data-role="assistant"]').last


def test_chat_streams_shows_usage_and_survives_a_reload(page, plain):
    sent = cap_replies(page, 8)
    page.goto(plain.base_url)
    expect(page.get_by_role("combobox", name="Model")).to_have_value("smollm2")
    expect(page.get_by_role("checkbox", name="Think")).to_be_disabled()  # SmolLM2 cannot
    send(page, "What is the capital of France?")
    expect(page.locator('[data-role="user"]')).to_have_text("What is the capital of France?")
    # token by token: part of the reply is on the page while Stop still shows
    page.wait_for_function(
        "() => { const r = document.querySelector('[data-role=assistant] .content');"
        " return r && r.textContent.trim().length > 0 && !document.getElementById('stop').hidden }"
    )
    usage = last_reply(page).locator(".usage")
    expect(usage).to_have_text(USAGE)
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    answer = last_reply(page).locator(".content").inner_text()
    assert answer.strip()
    assert sent[0]["stream"] is True and "think" not in sent[0]
    assert sent[0]["messages"] == [{"role": "user", "content": "What is the capital of France?"}]
    screenshot(page, "webui-chat")
    page.reload()
    expect(page.locator(TURNS)).to_have_count(2)
    expect(last_reply(page).locator(".content")).to_have_text(answer)
    box = page.get_by_role("textbox", name="Message")
    box.fill("first line")
    box.press("Shift+Enter")
    box.type("second line")
    expect(box).to_have_value("first line\nsecond line")  # Shift+Enter did not send
    expect(page.locator(TURNS)).to_have_count(2)
    page.get_by_role("button", name="New chat").click()
    expect(page.locator(TURNS)).to_have_count(0)
    page.reload()
    expect(page.locator(TURNS)).to_have_count(0)


def test_stop_ends_the_reply_and_keeps_the_part_that_came(page, plain):
    cap_replies(page, 600)  # far longer than the wait for its first words
    page.goto(plain.base_url)
    send(page, "Write a very long story about a dragon who learns to cook, in ten chapters.")
    content = last_reply(page).locator(".content")
    expect(content).not_to_be_empty()
    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    expect(last_reply(page)).to_contain_text("Stopped.")
    assert content.inner_text().strip()
    assert plain.wait_idle(30), "the server still generates the stopped reply"


def test_errors_show_in_the_conversation_and_the_page_goes_on(page, plain):
    sent = cap_replies(page, 8)
    page.goto(plain.base_url)
    send(page, "word " * 4500)  # over the 4,096-token context
    alert = last_reply(page).get_by_role("alert")
    expect(alert).to_contain_text("context")
    with slot_held(plain):
        send(page, "Say hi.")
        expect(last_reply(page).get_by_role("alert")).to_contain_text("server busy")
    send(page, "Say hello.")  # the failed turns are not sent again
    expect(page.locator('[data-role="assistant"]')).to_have_count(3)
    expect(last_reply(page).locator(".usage")).to_have_text(USAGE)
    expect(last_reply(page).get_by_role("alert")).to_have_count(0)
    assert [m["content"] for m in sent[-1]["messages"]] == ["Say hello."]


def test_markdown_renders_and_a_reply_cannot_run_script(page, plain):
    reply = (
        "Here is code:\n\n```python\nprint('hi')\n```\n\n"
        '<img src=x onerror="window.__pwned = 1"> <script>window.__pwned = 2</script>'
        "[click](javascript:window.__pwned=3) **done**"
    )
    events = [{"choices": [{"index": 0, "delta": {"content": part}}]} for part in reply.split(" ")]
    events[1:] = [
        {"choices": [{"index": 0, "delta": {"content": " " + e["choices"][0]["delta"]["content"]}}]}
        for e in events[1:]
    ]
    usage = {"prompt_tokens": 5, "completion_tokens": len(events), "total_tokens": 5 + len(events)}
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in [*events, {"choices": [], "usage": usage}])
    page.route(  # the model's part played by a scripted stream: the page is under test
        "**/v1/chat/completions",
        lambda route: route.fulfill(
            status=200, content_type="text/event-stream", body=body + "data: [DONE]\n\n"
        ),
    )
    page.goto(plain.base_url)
    send(page, "Show me code.")
    reply_node = last_reply(page)
    expect(reply_node.locator(".usage")).to_have_text(USAGE)
    expect(reply_node.locator("pre code")).to_have_text("print('hi')")
    expect(reply_node.locator("strong")).to_have_text("done")
    assert reply_node.locator("img").count() == 1
    assert reply_node.locator("img").get_attribute("onerror") is None
    assert reply_node.locator("script").count() == 0
    href = reply_node.locator("a", has_text="click").get_attribute("href")
    assert href is None or not href.startswith("javascript:")
    assert page.evaluate("window.__pwned") is None
    page.reload()  # the stored reply renders through the same sanitiser
    expect(last_reply(page).locator("pre code")).to_have_text("print('hi')")
    assert page.evaluate("window.__pwned") is None


def test_api_key_prompt_and_the_reasoning_switch(page, thinking):
    sent = cap_replies(page, 12)
    page.goto(thinking.base_url)
    key = page.get_by_role("textbox", name="API key")
    expect(key).to_be_visible()
    key.fill("not-the-key")
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#auth-error")).to_contain_text("invalid API key")
    key.fill(KEY)
    page.get_by_role("button", name="Use key").click()
    expect(key).to_be_hidden()
    expect(page.get_by_role("combobox", name="Model")).to_have_value("thinker")
    think = page.get_by_role("checkbox", name="Think")
    expect(think).to_be_enabled()
    think.check()
    send(page, "What is 2+2?")
    details = last_reply(page).locator("details")
    expect(last_reply(page).locator(".usage")).to_have_text(USAGE)
    expect(details.locator("summary")).to_have_text("Reasoning")
    assert details.get_attribute("open") is None  # collapsed
    assert details.locator("div").text_content().strip()  # (not rendered while collapsed)
    assert "<think>" not in last_reply(page).locator(".content").inner_text()
    assert sent[-1]["think"] is True
    screenshot(page, "webui-reasoning")
    page.reload()  # the key is remembered
    expect(page.get_by_role("textbox", name="API key")).to_be_hidden()
    page.get_by_role("checkbox", name="Think").uncheck()
    send(page, "What is the capital of France?")
    expect(last_reply(page).locator(".usage")).to_have_text(USAGE)
    assert sent[-1]["think"] is False
    expect(last_reply(page).locator("details")).to_have_count(0)
    assert last_reply(page).locator(".content").inner_text().strip()
