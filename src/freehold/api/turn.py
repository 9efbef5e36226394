"""The internal request every API dialect becomes.

Chat Completions, Responses and Anthropic Messages are translations: each turns its body
into one ``Turn`` (template-ready messages, sampling, stop, limits, reasoning statements,
tools, output format, model options), and the engine's typed parts (``engine.types.Part``)
back into its own wire format. ``api.planner.plan`` renders a Turn into the engine's
GenerationRequest; no dialect reaches the engine.
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

    ``messages``: as chat templates expect them (role, content text with a media marker
    per image, the images' (param, url) pairs under ``api.images.IMAGES_KEY``,
    ``tool_calls`` with JSON-string arguments, ``tool_call_id``). ``prompt``: raw text
    generated from as is, without the template (legacy text completion; ``messages`` are
    then empty and reasoning, tools and images do not apply). ``reasoning``: the
    request's reasoning statements in the vocabulary of ``chat.reasoning.normalize``
    (e.g. ``{"reasoning": {"effort": "low"}}``), normalised once by the planner.
    ``tools``, ``tool_choice`` and ``response_format`` use Chat Completions' shapes, the
    internal vocabulary for them. ``prefill``: assistant text the answer continues from
    (thinking is off then). ``adapters``: LoRA adapters asked for by name with a scale
    (None: the adapter's own), besides one the model name picks (``MODEL:ADAPTER``).
    ``keep_alive``: seconds the model stays loaded after this request (negative:
    forever; None: the server's). ``logprobs``: None, or the alternatives to report per
    token. ``n``: choices generated from one prompt.
    """

    messages: tuple[Message, ...] = ()
    prompt: str | None = None
    model: str | None = None
    max_tokens: int | None = None
    sampling: SamplingParams = field(default_factory=SamplingParams)
    stop: tuple[str, ...] = ()
    reasoning: Mapping[str, Any] = field(default_factory=dict)
    tools: tuple[Mapping[str, Any], ...] = ()
    tool_choice: str | Mapping[str, Any] = "auto"
    parallel_tool_calls: bool | None = None
    response_format: Mapping[str, Any] | None = None
    grammar: str | None = None  # GBNF the output must match
    template_kwargs: Mapping[str, Any] = field(default_factory=dict)
    prefill: str = ""
    timeout: float | None = None  # seconds, counted from admission (None: the server's)
    adapters: tuple[tuple[str, float | None], ...] = ()
    keep_alive: float | None = None
    logprobs: int | None = None
    n: int = 1
