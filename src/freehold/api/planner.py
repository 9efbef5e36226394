"""The one planner: a ``Turn`` (any dialect's request) → the engine's GenerationRequest.

Chat Completions, Responses, Anthropic Messages and legacy Completions all come through
``plan``: reasoning normalised against the model's family, tools and output format
planned, the chat template rendered (or a raw prompt taken as is), images decoded, LoRA
adapters chosen, token ids checked against the vocabulary. Pure apart from fetching an
image URL the server allows; a template may run long, so the Service calls it in a
worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from freehold.api.images import turn_images
from freehold.api.model_options import choose_adapters
from freehold.api.model_view import ModelView
from freehold.api.openai_tools import output_plan, response_grammar
from freehold.api.translate import with_system_note
from freehold.api.turn import Turn
from freehold.chat import reasoning
from freehold.chat.template import render
from freehold.chat.tools.formats import template_takes_tools
from freehold.chat.tools.plan import OutputPlan
from freehold.engine.lora import Adapter
from freehold.engine.types import GenerationRequest, ReasoningPlan, SamplingParams
from freehold.engine.vision import ImageInput
from freehold.errors import bad_request


@dataclass(frozen=True)
class Planned:
    """A Turn rendered for the engine: the request, how to read its output, its model.

    ``name``: the model name answers report (``MODEL:ADAPTER`` when the request named
    an adapter so, else the model's id). ``keep_alive``: the Turn's, for the lease."""

    request: GenerationRequest
    plan: reasoning.PromptPlan
    model: ModelView
    name: str = ""
    keep_alive: float | None = None

    @property
    def hide_reasoning(self) -> bool:
        return self.plan.output == "hidden"


def plan(
    turn: Turn, model: ModelView, request_id: str = "", named: Adapter | None = None
) -> Planned:
    """The engine request for ``turn`` on ``model`` (400s for bad reasoning fields,
    tools, formats, images, adapters, token ids, or messages the template rejects)."""
    if turn.prompt is not None:
        images: tuple[ImageInput, ...] = ()
        prompt, out = raw_prompt(turn)
    else:
        images = turn_images(turn.messages, model.settings, model.vision(), model.id)
        prompt, out = chat_prompt(turn, model)
    adapters = choose_adapters(model.id, model.entry.spec.adapters, named, turn.adapters)
    request = GenerationRequest(
        prompt=prompt.prompt + turn.prefill,
        max_tokens=turn.max_tokens,
        sampling=in_vocabulary(turn.sampling, model.info.n_vocab),
        stop=turn.stop,
        reasoning=think_plan(prompt),
        special=prompt.fmt is not None or out.tool_format is not None,
        request_id=request_id,
        timeout=turn.timeout,
        images=images,
        adapters=adapters,
        tool_format=out.tool_format,
        grammar=out.grammar,
        logprobs=turn.logprobs,
        n=turn.n,
    )
    name = turn.model if named is not None and turn.model else model.id
    return Planned(request, prompt, model, name, turn.keep_alive)


def raw_prompt(turn: Turn) -> tuple[reasoning.PromptPlan, OutputPlan]:
    """A raw prompt (legacy completions): no template, no reasoning, no tools."""
    assert turn.prompt is not None
    output = OutputPlan(grammar=response_grammar(None, turn.grammar))
    return reasoning.PromptPlan(turn.prompt, None, False, False, None, "hidden"), output


def chat_prompt(turn: Turn, model: ModelView) -> tuple[reasoning.PromptPlan, OutputPlan]:
    """The messages through the model's template, with the reasoning switch, the tools
    and the think block planned."""
    s, fmt, info = model.settings, model.reasoning_format, model.info
    choice = reasoning.normalize(
        turn.reasoning,
        server_default=s.reasoning,
        effort_budgets=s.reasoning_budgets,
        output_default=s.reasoning_format,
    )
    if turn.prefill:  # the answer continues the given text: no thinking first
        choice = reasoning.ReasoningChoice(enabled=False, output="hidden")
    out = output_plan(turn, model.tool_format, template_takes_tools(model.template))
    kwargs = {**turn.template_kwargs, **reasoning.template_kwargs(choice, fmt)}
    if out.template_tools is not None:
        kwargs["tools"] = out.template_tools
    prompt = render(
        model.template,
        with_system_note(list(turn.messages), out.system_note),
        bos_token=info.bos_token,
        eos_token=info.eos_token,
        add_generation_prompt=True,
        **kwargs,
    )
    return reasoning.plan_prompt(prompt, choice, fmt), out


def think_plan(plan: reasoning.PromptPlan) -> ReasoningPlan | None:
    """What the engine needs to split and budget the think block (None: no family)."""
    if plan.fmt is None:
        return None
    start, end = plan.fmt.start, plan.fmt.end
    return ReasoningPlan(start, end, plan.starts_inside, plan.budget, thinking=plan.thinking)


def in_vocabulary(sampling: SamplingParams, n_vocab: int) -> SamplingParams:
    """``sampling`` once its logit_bias token ids are known to be in the vocabulary."""
    for token in sampling.logit_bias:
        if n_vocab and token >= n_vocab:
            raise bad_request(
                f"logit_bias keys must be token ids below {n_vocab}, got {str(token)!r}",
                "logit_bias",
            )
    return sampling
