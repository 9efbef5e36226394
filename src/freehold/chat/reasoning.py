"""The reasoning switch: one request choice, one prompt plan, one stream splitter.

How the pieces are used, in order::

    fmt = detect_reasoning(model.chat_template, metadata)            # once, at load
    choice = normalize(body, server_default=..., model_default=...,  # at the edge (400s)
                       effort_budgets=...)
    kwargs = template_kwargs(choice, fmt)                            # into the template
    plan = plan_prompt(render(..., **kwargs), choice, fmt)           # prefill, starts_inside
    engine: ThinkSplitter(fmt, plan.starts_inside) in the slot's output parser, and
            BudgetTracker(fmt, budget=plan.budget, ..., splitter=that splitter)
    api:    api.openai_wire.PartShape(plan.output, ...)  # reasoning parts → message fields

The pieces live in ``reasoning_formats`` (families, prompt side), ``reasoning_request``
(the normaliser), ``reasoning_stream`` (splitter, shaper) and ``reasoning_tracker``
(budget); this module gathers them and adds the steps that join them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from freehold.chat.reasoning_formats import (
    ReasoningFormat,
    detect_reasoning,
    ends_closed,
    harmony,
    mistral_think,
    prefill_closed,
    starts_inside,
    think_tags,
)
from freehold.chat.reasoning_request import (
    DEFAULT_BUDGETS,
    EFFORTS,
    OUTPUTS,
    Output,
    ReasoningChoice,
    Switch,
    normalize,
)
from freehold.chat.reasoning_stream import Event, Kind, ThinkSplitter
from freehold.chat.reasoning_tracker import BudgetTracker, answer_reserve, format_for_markers

__all__ = [
    "DEFAULT_BUDGETS",
    "EFFORTS",
    "OUTPUTS",
    "BudgetTracker",
    "Event",
    "Kind",
    "Output",
    "PromptPlan",
    "ReasoningChoice",
    "ReasoningFormat",
    "Switch",
    "ThinkSplitter",
    "answer_reserve",
    "capabilities",
    "detect_reasoning",
    "ends_closed",
    "format_for_markers",
    "harmony",
    "mistral_think",
    "normalize",
    "plan_prompt",
    "prefill_closed",
    "starts_inside",
    "template_kwargs",
    "think_tags",
]


@dataclass(frozen=True)
class PromptPlan:
    """The prompt to generate from and how to read its output.

    ``thinking``: the model may think (a reasoning model, thinking not off).
    ``starts_inside``: the output begins inside a think block. ``budget``: thinking tokens
    allowed (None: unlimited). ``output``: the response shape (``hidden`` when off).
    """

    prompt: str
    fmt: ReasoningFormat | None
    thinking: bool
    starts_inside: bool
    budget: int | None
    output: Output


def _native_level(effort: str | None, levels: tuple[str, ...]) -> str | None:
    if effort is None or not levels:
        return None
    if effort in levels:
        return effort
    return levels[0] if effort == "minimal" else levels[-1]


def template_kwargs(choice: ReasoningChoice, fmt: ReasoningFormat | None) -> dict[str, Any]:
    """Variables for the chat template: the family's switch, when the request decided it."""
    if fmt is None or fmt.switch is None:
        return {}
    if fmt.levels:
        level = _native_level(choice.effort, fmt.levels) if choice.enabled else None
        return {fmt.switch: level} if level else {}
    return {} if choice.enabled is None else {fmt.switch: choice.enabled}


def plan_prompt(prompt: str, choice: ReasoningChoice, fmt: ReasoningFormat | None) -> PromptPlan:
    """Off: an empty closed block is prefilled (unless the template closed one). On: the
    block is opened in the prompt if the template did not. Auto: the prompt as rendered."""
    if fmt is None:
        return PromptPlan(prompt, None, False, False, None, choice.output)
    if choice.enabled is False:
        return PromptPlan(prefill_closed(prompt, fmt), fmt, False, False, None, "hidden")
    inside = starts_inside(prompt, fmt)
    if choice.enabled and not inside:
        prompt, inside = prompt + fmt.open, True
    thinks = bool(choice.enabled) or inside or fmt.default_on
    return PromptPlan(prompt, fmt, thinks, inside, choice.budget if thinks else None, choice.output)


def capabilities(fmt: ReasoningFormat | None, default: Switch = "auto") -> dict[str, Any]:
    """What ``/v1/models`` says of a model's reasoning. ``default`` is the configured one
    (model's, else server's); ``auto`` resolves to the template's own default."""
    if fmt is None:
        return {"reasoning": False}
    resolved = default if default != "auto" else ("on" if fmt.default_on else "off")
    return {
        "reasoning": True,
        "family": fmt.name,
        "markers": [fmt.start, fmt.end],
        "switchable": fmt.switchable,
        "can_disable": True,
        "levels": list(EFFORTS),
        "native_levels": list(fmt.levels),
        "default": resolved,
    }
