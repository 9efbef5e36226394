"""OpenAI Chat Completions and (legacy) Completions bodies → the internal Turn, and the
writer that renders the engine's parts for them. Pure: no engine, no settings.

Field-level translation (sampling, stop, logprobs, logit_bias, the envelope) lives in
``translate``; tools and formats are planned from the Turn by ``planner``; the wire
objects are ``openai_wire``'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from freehold.api import translate as tr
from freehold.api.images import IMAGES_KEY
from freehold.api.model_options import parse_keep_alive
from freehold.api.openai_wire import OpenAIWriter, PartShape
from freehold.api.planner import Planned
from freehold.api.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    ImagePart,
    Message,
    Sampling,
)
from freehold.api.turn import Turn
from freehold.chat.reasoning import PromptPlan

# The chat fields that state a reasoning choice (read by chat.reasoning.normalize).
REASONING_FIELDS = (
    "reasoning_effort",
    "reasoning",
    "think",
    "chat_template_kwargs",
    "max_reasoning_tokens",
    "thinking_token_budget",
    "reasoning_format",
)


def chat_turn(body: ChatCompletionRequest) -> Turn:
    """The internal request for a Chat Completions body (400s for bad fields)."""
    stated = {f: v for f in REASONING_FIELDS if (v := getattr(body, f)) is not None}
    return replace(
        _sampled_turn(body, chat=True),
        messages=chat_messages(body.messages),
        reasoning=stated,
        tools=tuple(body.tools or ()),
        tool_choice="auto" if body.tool_choice is None else body.tool_choice,
        parallel_tool_calls=body.parallel_tool_calls,
        response_format=body.response_format,
        template_kwargs=body.chat_template_kwargs or {},
    )


def completion_turn(body: CompletionRequest) -> Turn:
    """The internal request for a legacy Completions body: its prompt, raw."""
    return replace(_sampled_turn(body, chat=False), prompt=tr.completion_prompt(body.prompt))


def _sampled_turn(body: Sampling, chat: bool) -> Turn:
    """The fields chat and text completions share: sampling, limits, model options."""
    tr.refuse_unsupported(body)
    return Turn(
        model=body.model,
        max_tokens=tr.max_tokens(body),
        sampling=tr.sampling_params(body),
        stop=tr.stop_strings(body.stop),
        grammar=body.grammar,
        timeout=body.t_max_predict_ms / 1000 if body.t_max_predict_ms else None,
        adapters=tuple((c.name, c.scale) for c in body.lora or ()),
        keep_alive=parse_keep_alive(body.keep_alive),
        logprobs=tr.top_logprobs(body, chat),
        n=body.n or 1,
    )


def chat_messages(messages: list[Message]) -> tuple[dict[str, Any], ...]:
    """Template-ready messages, each image part's (param, url) listed under IMAGES_KEY
    (a client's own key of that name is dropped: it lists no images)."""
    out = []
    for i, (message, d) in enumerate(zip(messages, tr.message_dicts(messages), strict=True)):
        d.pop(IMAGES_KEY, None)
        images = list(_images(i, message.content or ()))
        out.append({**d, IMAGES_KEY: images} if images else d)
    return tuple(out)


def _images(i: int, content: str | Iterable[Any]) -> Iterable[tuple[str, str]]:
    if isinstance(content, str):
        return
    for j, part in enumerate(content):
        if isinstance(part, ImagePart):
            yield f"messages[{i}].content[{j}]", part.url


def openai_writer(body: Sampling, planned: Planned) -> OpenAIWriter:
    """The writer of ``planned``'s answer in chat (or text) completion objects."""
    chat = isinstance(body, ChatCompletionRequest)
    request = planned.request
    meta = tr.ResponseMeta(
        model=planned.name,
        chat=chat,
        include_usage=not body.stream
        or bool(body.stream_options and body.stream_options.include_usage),
        n=request.n,
        logprobs=request.logprobs,
        prompt_chars=0 if chat else len(request.prompt),
        id=request.request_id,
    )
    return OpenAIWriter(meta, part_shape(planned.plan))


def part_shape(plan: PromptPlan) -> PartShape:
    """Where the plan's thinking goes in a chat message (the request's reasoning_format)."""
    if plan.fmt is None:
        return PartShape()
    return PartShape(plan.output, plan.fmt.start, plan.fmt.end)
