"""Pure translation of OpenAI request bodies into the engine's vocabulary, and the
response envelope. (Engine parts → wire objects: ``openai_wire``.)"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from freehold import __version__
from freehold.api.schemas import (
    Message,
    Sampling,
    TextPart,
)
from freehold.engine.types import SamplingParams, Usage
from freehold.engine.vision import MEDIA_MARKER
from freehold.errors import FreeholdError, bad_request

MAX_STOPS = 16
TOKEN_ID = re.compile(r"[0-9]{1,10}")  # ASCII digits: str.isdigit() also takes "²"
FINGERPRINT = f"freehold-{__version__}"

# OpenAI fields freehold does not implement, and the values that mean "not asked for".
_UNSUPPORTED: dict[str, Callable[[Any], bool]] = {
    "functions": lambda v: not v,
    "function_call": lambda v: v in (None, "none", "auto"),
    "audio": lambda v: v is None,
    "modalities": lambda v: v is None or v == ["text"],
    "prediction": lambda v: v is None,
    "web_search_options": lambda v: v is None,
    "echo": lambda v: not v,
    "suffix": lambda v: not v,
    "best_of": lambda v: v in (None, 1),
}


def refuse_unsupported(body: Sampling) -> None:
    for name in body.model_fields_set & _UNSUPPORTED.keys():
        if not _UNSUPPORTED[name](getattr(body, name)):
            raise FreeholdError(
                f"'{name}' is not supported by freehold with the value given",
                param=name,
                code="unsupported_parameter",
            )


def logit_bias(given: dict[str, float] | None) -> dict[int, float]:
    """OpenAI's logit_bias: token ids to biases in −100..100 (the planner checks the ids
    against the model's vocabulary)."""
    bias: dict[int, float] = {}
    for key, value in (given or {}).items():
        if not TOKEN_ID.fullmatch(key):
            raise bad_request(f"logit_bias keys must be token ids, got {key!r}", "logit_bias")
        if not -100 <= value <= 100:  # NaN fails both comparisons
            raise bad_request(
                f"logit_bias values must lie between -100 and 100, got {value}", "logit_bias"
            )
        bias[int(key)] = value
    return bias


def sampling_params(body: Sampling) -> SamplingParams:
    d = SamplingParams()
    bias = logit_bias(body.logit_bias)

    def pick(value: Any, default: Any) -> Any:
        return default if value is None else value

    return SamplingParams(
        temperature=pick(body.temperature, d.temperature),
        top_p=pick(body.top_p, d.top_p),
        top_k=pick(body.top_k, d.top_k),
        min_p=pick(body.min_p, d.min_p),
        seed=None if body.seed == -1 else body.seed,  # -1: a random seed, as in llama.cpp
        presence_penalty=pick(body.presence_penalty, d.presence_penalty),
        frequency_penalty=pick(body.frequency_penalty, d.frequency_penalty),
        repeat_penalty=pick(body.repeat_penalty, d.repeat_penalty),
        logit_bias=bias,
        ignore_eos=body.ignore_eos,
    )


def stop_strings(stop: str | list[str] | None) -> tuple[str, ...]:
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    if len(stops) > MAX_STOPS:
        raise bad_request(f"at most {MAX_STOPS} stop strings are accepted", "stop")
    return tuple(s for s in stops if s)


def max_tokens(body: Sampling) -> int | None:
    limit = getattr(body, "max_completion_tokens", None)
    return limit if limit is not None else body.max_tokens


def message_dicts(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """Messages as chat templates expect them: text parts joined (an image part as the
    engine's media marker), developer → system (tool-call arguments stay JSON text:
    ``chat.template.render`` gives templates objects)."""
    out = []
    for m in messages:
        d = m.model_dump(exclude_none=True)
        if isinstance(m.content, list):
            d["content"] = "\n".join(
                part.text if isinstance(part, TextPart) else MEDIA_MARKER for part in m.content
            )
        d.setdefault("content", "")
        d["role"] = "system" if m.role == "developer" else m.role
        out.append(d)
    return out


def with_system_note(messages: list[dict[str, Any]], note: str | None) -> list[dict[str, Any]]:
    """``note`` added to the first system message (or as one before the others)."""
    if not note:
        return messages
    if messages and messages[0]["role"] == "system":
        first = {**messages[0], "content": f"{messages[0]['content']}\n\n{note}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": note}, *messages]


def top_logprobs(body: Sampling, chat: bool) -> int | None:
    """How many alternatives to report per token (None: no logprobs); 400 out of range."""
    if chat:
        if body.top_logprobs is not None and not body.logprobs:
            raise bad_request("top_logprobs needs logprobs: true", "top_logprobs")
        if not body.logprobs:
            return None
        count, limit, param = body.top_logprobs or 0, 20, "top_logprobs"
    else:
        if body.logprobs is None or body.logprobs is False:
            return None
        count, limit, param = int(body.logprobs), 5, "logprobs"
    if not 0 <= count <= limit:
        raise bad_request(f"{param} must be between 0 and {limit}", param)
    return count


def completion_prompt(prompt: str | list[str]) -> str:
    if isinstance(prompt, str):
        return prompt
    if len(prompt) == 1:
        return prompt[0]
    raise FreeholdError(
        "a list of several prompts is not supported; send one request each",
        param="prompt",
        code="unsupported_parameter",
    )


def usage_dict(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def response_id(chat: bool) -> str:
    return f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"


@dataclass
class ResponseMeta:
    model: str
    chat: bool
    include_usage: bool = False
    n: int = 1
    logprobs: int | None = None  # None: not asked; else the number of alternatives
    prompt_chars: int = 0  # legacy completions count text offsets from the prompt's start
    id: str = ""
    created: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self) -> None:
        self.id = self.id or response_id(self.chat)

    def envelope(
        self, choices: list[dict[str, Any]], usage: Usage | None = None, last: bool = False
    ) -> dict[str, Any]:
        obj = "chat.completion.chunk" if self.chat else "text_completion"
        out: dict[str, Any] = {
            "id": self.id,
            "object": obj,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": FINGERPRINT,
            "choices": choices,
        }
        if self.include_usage and last:
            out["usage"] = usage_dict(usage)
        return out
