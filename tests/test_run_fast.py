"""`freehold run` over a scripted FakeEngine served on a Unix socket in a thread: the
client, the session and its /commands, the prompt loop and the piped mode."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from thinking_gguf import THINKING_TEMPLATE

from freehold.api import create_app
from freehold.config import Settings
from freehold.engine.fake import FakeEngine
from freehold.engine.types import ModelInfo
from freehold.run.client import ChatClient, ChatError, parse_event
from freehold.run.local import BASE_URL, serve_in_thread
from freehold.run.session import HELP, Bye, Session
from freehold.run.terminal import DIM, RESET, interactive, piped, read_message

THOUGHT = ["Let me", " add.", "</think>", "\n\n", "It is", " 4."]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def engine() -> Iterator[FakeEngine]:
    info = ModelInfo(id="thinker", n_ctx_slot=512, chat_template=THINKING_TEMPLATE)
    yield FakeEngine(script=THOUGHT, info=info)


@pytest.fixture(scope="module")
def client(engine: FakeEngine) -> Iterator[ChatClient]:
    with serve_in_thread(create_app(Settings(), engine), timeout=30) as transport:
        chat = ChatClient(BASE_URL, transport=transport)
        yield chat
        chat.close()


def lines(*typed: str):
    """A reader that types ``typed`` line by line, then Ctrl-D; records the prompts."""
    queue = list(typed)
    prompts: list[str] = []

    def read(prompt: str) -> str:
        prompts.append(prompt)
        if not queue:
            raise EOFError
        return queue.pop(0)

    read.prompts = prompts  # type: ignore[attr-defined]
    return read


@pytest.mark.parametrize(
    "typed, message",
    [
        (["hello"], "hello"),
        (['"""one line"""'], "one line"),
        (['"""', "first", "second", '"""'], "first\nsecond"),
        (['"""first', "second", 'third"""'], "first\nsecond\nthird"),
    ],
)
def test_read_message_joins_fenced_lines(typed, message):
    read = lines(*typed)
    assert read_message(read) == message
    assert read.prompts == [">>> "] + ["... "] * (len(typed) - 1)


def test_parse_event_reads_content_reasoning_usage_and_errors():
    delta = parse_event('{"choices":[{"delta":{"reasoning_content":"hm","content":"ok"}}]}')
    assert (delta.reasoning, delta.content) == ("hm", "ok")
    assert parse_event('{"choices":[],"usage":{"completion_tokens":3}}').usage == {
        "completion_tokens": 3
    }
    assert parse_event("[DONE]") is None
    with pytest.raises(ChatError, match="too long"):
        parse_event('{"error":{"message":"too long","type":"invalid_request_error"}}')


def test_think_on_streams_reasoning_apart_from_the_answer(client, engine):
    session = Session(client)
    assert session.command("/think on") == "Thinking is on."
    deltas = list(session.ask("What is 2+2?"))
    assert "".join(d.reasoning for d in deltas) == "Let me add."
    assert "".join(d.content for d in deltas) == "It is 4."
    assert deltas[-1].usage and deltas[-1].usage["completion_tokens"] == len(THOUGHT)
    assert engine.requests[-1].prompt.endswith("<think>\n")
    assert session.history[-1] == {"role": "assistant", "content": "It is 4."}


def test_think_off_prefills_a_closed_block(client, engine):
    session = Session(client)
    session.command("/think off")
    list(session.ask("hi"))
    assert engine.requests[-1].prompt.endswith("<think>\n\n</think>\n\n")


def test_set_show_clear_help_and_bye(client, engine):
    session = Session(client)
    assert session.command("/set temperature 0.2") == "Set temperature to 0.2."
    assert session.command("/set seed 7") == "Set seed to 7."
    assert "not a number" in session.command("/set top_k many")
    assert session.command("/set colour red").startswith("Unknown setting 'colour'")
    session.command("/set system Be brief.")
    list(session.ask("hi"))
    sampling = engine.requests[-1].sampling
    assert (sampling.temperature, sampling.seed) == (0.2, 7)
    assert "Be brief." in engine.requests[-1].prompt
    shown = session.command("/show")
    assert "Model: thinker" in shown and "temperature=0.2" in shown
    assert session.history
    assert session.command("/clear") == "Cleared the conversation." and not session.history
    assert session.command("/help") == HELP
    assert session.command("/nope").startswith("Unknown command '/nope'")
    with pytest.raises(Bye):
        session.command("/bye")


def test_history_is_sent_with_the_next_question(client, engine):
    session = Session(client)
    list(session.ask("first question"))
    list(session.ask("second question"))
    prompt = engine.requests[-1].prompt
    assert prompt.index("first question") < prompt.index("It is 4.") < prompt.index("second")


def test_interactive_loop_dims_thinking_and_exits_0_on_ctrl_d(client):
    out = Tty()
    status = interactive(Session(client, think=True), lines("/think", "What is 2+2?"), out)
    text = out.getvalue()
    assert status == 0
    assert "Thinking: on." in text
    assert f"{DIM}Let me add.{RESET}\n\nIt is 4.\n" in text


def test_interactive_shows_errors_and_keeps_going(client, capsys):
    session = Session(client, model="no-such-model")
    status = interactive(session, lines("hi", "/bye"), Tty())
    err = capsys.readouterr().err
    assert status == 0
    assert "error: 404" in err and "no-such-model" in err


def test_piped_prints_only_the_answer(client):
    out = io.StringIO()
    assert piped(Session(client, think=True), "What is 2+2?\n", out) == 0
    assert out.getvalue() == "It is 4.\n"


def test_piped_refuses_empty_input(client, capsys):
    assert piped(Session(client), "  \n", io.StringIO()) == 2
    assert "no message" in capsys.readouterr().err
