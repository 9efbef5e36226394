"""A chat session: history, options and the reasoning switch, and the /commands."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from freehold.run.client import ChatClient, Delta

HELP = """\
Type a message and press Enter. Commands:
  /think on|off     ask the model to think first, or not (shown dimmed, apart from the answer)
  /set KEY VALUE    temperature, top_p, top_k, min_p, seed, max_tokens, repeat_penalty,
                    presence_penalty, frequency_penalty; /set system TEXT sets a system prompt
  /set              show the settings in force
  /show             the model and the settings
  /clear            forget the conversation
  /bye              leave (Ctrl-D too)
  /help             this help
Start and end a message with \"\"\" to write several lines.
Ctrl-C stops a reply; Ctrl-D at the prompt exits."""

FLOAT_OPTIONS = (
    "temperature", "top_p", "min_p", "repeat_penalty", "presence_penalty", "frequency_penalty",
)  # fmt: skip
INT_OPTIONS = ("top_k", "seed", "max_tokens")


class Bye(Exception):
    """/bye: leave the chat."""


@dataclass
class Session:
    client: ChatClient
    model: str | None = None
    think: bool | None = None  # None: the server's and model's default
    system: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, str]] = field(default_factory=list)

    def body(self, text: str) -> dict[str, Any]:
        system = [{"role": "system", "content": self.system}] if self.system else []
        messages = [*system, *self.history, {"role": "user", "content": text}]
        body: dict[str, Any] = {"messages": messages, **self.options}
        if self.model:
            body["model"] = self.model
        if self.think is not None:
            body["think"] = self.think
        return body

    def ask(self, text: str) -> Iterator[Delta]:
        """Stream the reply to ``text``; the user turn and whatever of the answer arrived
        (all of it, or the part before a Ctrl-C) join the history."""
        answer: list[str] = []
        stream = self.client.stream(self.body(text))
        try:
            for delta in stream:
                answer.append(delta.content)
                yield delta
        finally:
            if answer:
                self.history += [
                    {"role": "user", "content": text},
                    {"role": "assistant", "content": "".join(answer)},
                ]

    def command(self, line: str) -> str:
        """Run one /command; returns the text to show. Raises Bye for /bye."""
        name, _, rest = line.strip().partition(" ")
        handler = self._commands().get(name.lower())
        if handler is None:
            return f"Unknown command '{name}'. Type /help for help."
        return handler(rest.strip())

    def _commands(self) -> dict[str, Callable[[str], str]]:
        return {
            "/think": self._think,
            "/set": self._set,
            "/show": lambda _: self.show(),
            "/clear": self._clear,
            "/bye": self._bye,
            "/exit": self._bye,
            "/help": lambda _: HELP,
            "/?": lambda _: HELP,
        }

    def _think(self, arg: str) -> str:
        if arg.lower() in ("on", "off"):
            self.think = arg.lower() == "on"
            return f"Thinking is {arg.lower()}."
        if not arg:
            state = {None: "the model's default", True: "on", False: "off"}[self.think]
            return f"Thinking: {state}. Use /think on or /think off."
        return "Usage: /think on|off"

    def _set(self, arg: str) -> str:
        key, _, value = arg.partition(" ")
        value = value.strip()
        if not key:
            return self.settings()
        if key == "system":
            self.system = value or None
            return "Set the system prompt." if value else "Cleared the system prompt."
        if key not in FLOAT_OPTIONS + INT_OPTIONS:
            return f"Unknown setting '{key}'. " + self.settings()
        if not value:
            self.options.pop(key, None)
            return f"Reset {key}."
        try:
            self.options[key] = int(value) if key in INT_OPTIONS else float(value)
        except ValueError:
            return f"'{value}' is not a number for {key}."
        return f"Set {key} to {self.options[key]}."

    def settings(self) -> str:
        names = ", ".join(FLOAT_OPTIONS + INT_OPTIONS + ("system",))
        shown = {**self.options, "system": self.system, "think": self.think}
        told = ", ".join(f"{k}={v!r}" for k, v in shown.items() if v is not None)
        return f"Settings: {told or 'the server defaults'}. (Settable: {names}.)"

    def show(self) -> str:
        models = self.client.models()
        card = next((m for m in models if m.get("id") == self.model), models[0] if models else {})
        meta = card.get("meta") or {}
        lines = [f"Model: {card.get('id', self.model)}"]
        for label, key in (
            ("architecture", "architecture"),
            ("quantization", "quantization"),
            ("parameters", "parameters"),
            ("context", "context_length"),
            ("context per slot", "slot_context"),
            ("reasoning", "reasoning"),
        ):
            if meta.get(key) not in (None, ""):
                lines.append(f"  {label}: {meta[key]}")
        return "\n".join([*lines, self.settings()])

    def _clear(self, _: str) -> str:
        self.history.clear()
        return "Cleared the conversation."

    def _bye(self, _: str) -> str:
        raise Bye
