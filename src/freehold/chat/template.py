"""Render chat messages into a prompt with the model's Jinja chat template, sandboxed.

A GGUF file is untrusted input: its template runs in Jinja's ImmutableSandboxedEnvironment,
so it cannot reach Python internals (llama-cpp-python's CVE-2024-34359).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from freehold.errors import FreeholdError

log = logging.getLogger(__name__)

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class TemplateRaised(Exception):
    """raise_exception() called by a template: the conversation broke one of its rules."""


def _raise_exception(message: str) -> None:
    raise TemplateRaised(message)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


@functools.lru_cache(maxsize=8)
def _compile(source: str) -> Any:
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.globals.update(raise_exception=_raise_exception, strftime_now=_strftime_now)
    return env.from_string(source)


def load_template_text(value: str) -> str:
    """A template given in settings: 'chatml', a file path, or Jinja text itself."""
    if value.strip().lower() == "chatml":
        return CHATML
    if "{" not in value and Path(value).is_file():
        return Path(value).read_text()
    return value


def choose_template(model_template: str | None, override: str | None, fallback: str) -> str:
    if override:
        return load_template_text(override)
    if model_template:
        return model_template
    log.warning(
        "the model has no chat template; using the fallback template (%s)",
        "ChatML" if fallback.strip().lower() == "chatml" else "configured",
    )
    return load_template_text(fallback)


def render(
    template: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
    **kwargs: Any,
) -> str:
    """The prompt text for ``messages``. Client mistakes the template rejects → 400;
    a template that breaks the sandbox or fails → 500 with a clear message."""
    try:
        compiled = _compile(template)
    except TemplateError as exc:
        raise _template_broken(f"the chat template does not compile: {exc}") from exc
    try:
        return str(
            compiled.render(
                messages=[with_argument_objects(m) for m in messages],
                bos_token=bos_token,
                eos_token=eos_token,
                add_generation_prompt=add_generation_prompt,
                **kwargs,
            )
        )
    except TemplateRaised as exc:
        raise FreeholdError(
            f"the model's chat template rejected the messages: {exc}", param="messages"
        ) from exc
    except SecurityError as exc:
        raise _template_broken(
            f"the chat template tried an unsafe operation and was stopped by the sandbox: {exc}"
        ) from exc
    except (TemplateError, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise _template_broken(f"the chat template failed to render: {exc}") from exc


def with_argument_objects(message: Mapping[str, Any]) -> Mapping[str, Any]:
    """``message`` with its tool calls' JSON-text arguments as objects: Hugging Face
    templates render them with ``tojson`` (text would come out quoted twice)."""
    calls = message.get("tool_calls")
    if not isinstance(calls, list):
        return message
    return {**message, "tool_calls": [_call_with_object(c) for c in calls]}


def _call_with_object(call: Any) -> Any:
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("arguments"), str):
        return call
    try:
        args = json.loads(fn["arguments"])
    except ValueError:
        return call
    return {**call, "function": {**fn, "arguments": args}}


def _template_broken(message: str) -> FreeholdError:
    return FreeholdError(message, status=500, type="server_error", code="chat_template_error")
