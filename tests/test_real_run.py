"""`freehold run` as a person uses it: through a pseudo-terminal (pexpect) on the local
engine, and piped, against a running server (--url, --api-key) and the local engine."""

from __future__ import annotations

import subprocess
import sys

import pexpect
import pytest
from realserver import smollm2_server
from thinking_gguf import cached_thinking_gguf

from freehold.run.terminal import DIM

pytestmark = pytest.mark.real
KEY = "run-key"
FREEHOLD = [sys.executable, "-m", "freehold", "run"]


@pytest.fixture(scope="module")
def server(model_path, tmp_path_factory):
    log = tmp_path_factory.mktemp("run") / "freehold.log"
    with smollm2_server(model_path, log, "-c", "2048", "-np", "2", "--api-key", KEY) as srv:
        yield srv


@pytest.fixture(scope="module")
def thinker(model_path, tmp_path_factory):
    return cached_thinking_gguf(model_path, tmp_path_factory.getbasetemp() / "thinking")


def piped(args: list[str], text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FREEHOLD, *args], input=text, capture_output=True, text=True, timeout=280
    )


def test_piped_prints_only_the_answer(server):
    args = ["--url", server.base_url, "--api-key", KEY, "-n", "8", "--temperature", "0"]
    done = piped(args, "What is the capital of France?")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() and done.stdout.endswith("\n")
    assert ">>>" not in done.stdout and "Chatting" not in done.stdout


def test_piped_on_the_local_engine(model_path):
    done = piped([str(model_path), "-t", "2", "-c", "1024", "-n", "8"], "Say hello.")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() and ">>>" not in done.stdout
    assert "llama" not in done.stdout  # the engine's logs never reach the answer
    assert "llama_model_loader" not in done.stderr  # nor the terminal: INFO stays quiet


@pytest.mark.parametrize(
    "args, message",
    [
        (["--api-key", "wrong"], "invalid API key"),
        (["--api-key", KEY, "no-such-model"], "does not exist"),
    ],
)
def test_piped_errors_go_to_stderr_with_a_failing_status(server, args, message):
    done = piped(["--url", server.base_url, *args], "hello")
    assert done.returncode == 1
    assert message in done.stderr and done.stdout == ""


def test_unreachable_server_is_an_error():
    done = piped(["--url", "http://127.0.0.1:9"], "hello")
    assert done.returncode == 1 and "failed" in done.stderr and done.stdout == ""


@pytest.fixture
def chat(thinker):
    """`freehold run` on the thinking model, in a pseudo-terminal, at its first prompt."""
    child = pexpect.spawn(
        FREEHOLD[0],
        [*FREEHOLD[1:], str(thinker), "-t", "2", "-c", "2048"],
        encoding="utf-8",
        timeout=240,
        dimensions=(40, 200),
    )
    child.expect_exact("Chatting with")
    child.expect_exact(">>> ")
    yield child
    if child.isalive():
        child.terminate(force=True)


def ask(child: pexpect.spawn, line: str) -> str:
    """Send a line and return what came before the next prompt."""
    child.sendline(line)
    child.expect_exact(">>> ")
    return str(child.before)


def test_terminal_chat(chat):
    assert "temperature to 0.0" in ask(chat, "/set temperature 0")
    assert "max_tokens to 8" in ask(chat, "/set max_tokens 8")
    assert "Thinking is on." in ask(chat, "/think on")
    thought = ask(chat, "What is 2+2?")
    assert DIM in thought  # the thinking, dimmed
    assert "Thinking is off." in ask(chat, "/think off")
    answer = ask(chat, "What is the capital of France?")
    assert DIM not in answer and answer.strip()
    shown = ask(chat, "/show")
    assert "Model: " in shown and "context" in shown and "temperature=0.0" in shown
    chat.sendline('"""')
    chat.expect_exact("... ")
    chat.sendline("Name a colour.")
    chat.expect_exact("... ")
    assert ask(chat, '"""').strip()
    assert "Cleared the conversation." in ask(chat, "/clear")
    assert "/think on|off" in ask(chat, "/help")
    chat.sendline("/bye")
    chat.expect(pexpect.EOF)
    chat.close()
    assert chat.exitstatus == 0


def test_ctrl_c_stops_a_reply_and_ctrl_d_exits_0(chat):
    ask(chat, "/think off")
    ask(chat, "/set max_tokens 400")  # bounded, yet far longer than the wait for its start
    chat.sendline("Write a very long story about a dragon who learns to cook, in ten chapters.")
    chat.expect_exact("ten chapters.")  # the echo of the line
    chat.expect(r"[A-Za-z]{2}")  # the reply has begun
    chat.sendintr()
    chat.expect_exact("[stopped]")
    chat.expect_exact(">>> ")
    ask(chat, "/set max_tokens 8")
    assert ask(chat, "Say yes.").strip()  # the session goes on
    chat.sendeof()
    chat.expect(pexpect.EOF)
    chat.close()
    assert chat.exitstatus == 0
