"""The internal request every API dialect becomes.

Responses and Anthropic Messages are translations: each turns its body into one ``Turn``
(template-ready messages, sampling, stop, limits, reasoning statements, tools, output
format), and the engine's typed parts (``engine.types.Part``) back into its own wire
format. The Service renders a Turn into the engine's GenerationRequest; no dialect
reaches the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from freehold.engine.types import SamplingParams

Message = dict[str, Any]


@dataclass(frozen=True)
class Turn:
    """One generation, whatever API asked for it.

    ``messages``: as chat templates expect them (role, content text, ``tool_calls`` with
    JSON-string arguments, ``tool_call_id``). ``reasoning``: the request's reasoning
    statements in the vocabulary of ``chat.reasoning.normalize`` (e.g. ``{"reasoning":
    {"effort": "low"}}``), normalised once in the Service. ``tools``, ``tool_choice`` and
    ``response_format`` use Chat Completions' shapes, the internal vocabulary for them.
    ``prefill``: assistant text the answer continues from (thinking is off then).
    """

    messages: tuple[Message, ...]
    model: str | None = None
    max_tokens: int | None = None
    sampling: SamplingParams = field(default_factory=SamplingParams)
    stop: tuple[str, ...] = ()
    reasoning: Mapping[str, Any] = field(default_factory=dict)
    tools: tuple[Mapping[str, Any], ...] = ()
    tool_choice: str | Mapping[str, Any] = "auto"
    parallel_tool_calls: bool | None = None
    response_format: Mapping[str, Any] | None = None
    grammar: str | None = None  # GBNF; no dialect but chat's sends one today
    template_kwargs: Mapping[str, Any] = field(default_factory=dict)
    prefill: str = ""
    timeout: float | None = None  # seconds, queue wait included (None: the server's)
