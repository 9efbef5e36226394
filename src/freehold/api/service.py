"""The glue between routes and the engine: model lookup, prompt rendering, request building."""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator
from dataclasses import dataclass, replace

from freehold.api import translate as tr
from freehold.api.images import chat_images
from freehold.api.metrics import Metrics
from freehold.api.openai_wire import PartShape
from freehold.api.schemas import ChatCompletionRequest, CompletionRequest
from freehold.chat import reasoning
from freehold.chat.template import choose_template, render
from freehold.config import Settings
from freehold.engine.types import Chunk, Engine, GenerationRequest, ReasoningPlan
from freehold.errors import FreeholdError, not_found


@dataclass
class Prepared:
    request: GenerationRequest
    meta: tr.ResponseMeta
    shape: PartShape


class Service:
    def __init__(self, settings: Settings, engine: Engine, metrics: Metrics) -> None:
        self.settings = settings
        self.engine = engine
        self.metrics = metrics

    def generate(self, prepared: Prepared) -> AsyncGenerator[Chunk, None]:
        """The engine's chunks for ``prepared``, observed by the metrics."""
        endpoint = "chat" if prepared.meta.chat else "completions"
        return self.metrics.observe(endpoint, self.engine.generate(prepared.request))

    def capabilities(self) -> dict[str, object]:
        return {
            **reasoning.capabilities(self.reasoning_format, self.settings.reasoning),
            **self.engine.pooler.facts.capabilities(),
            "vision": self.engine.vision,
        }

    def model_ids(self) -> set[str]:
        info = self.engine.info
        return {info.id, *info.aliases}

    def check_model(self, model: str | None) -> str:
        if model is not None and model not in self.model_ids():
            raise not_found(
                f"the model '{model}' does not exist; this server serves "
                f"'{self.engine.info.id}' (see GET /v1/models)",
                code="model_not_found",
                param="model",
            )
        if self.engine.failure is not None:
            raise FreeholdError(
                f"the server cannot generate any more ({self.engine.failure}); restart it",
                status=503,
                type="server_error",
                code="engine_failed",
            )
        if not self.engine.ready:
            raise FreeholdError(
                "the model is still loading; retry shortly",
                status=503,
                type="server_error",
                code="model_not_ready",
                headers={"Retry-After": "2"},
            )
        return self.engine.info.id

    @functools.cached_property
    def template(self) -> str:
        """The chat template in force: the override, the model's own, or the fallback."""
        s = self.settings
        return choose_template(self.engine.info.chat_template, s.chat_template, s.fallback_template)

    def check_template(self) -> None:
        """Render a one-message chat with the template in force, at load: a template that
        the sandbox stops or that cannot render is refused with the model's name and why."""
        info = self.engine.info
        try:
            render(
                self.template,
                [{"role": "user", "content": "Hello"}],
                bos_token=info.bos_token,
                eos_token=info.eos_token,
                add_generation_prompt=True,
            )
        except FreeholdError as exc:
            if exc.code != "chat_template_error":
                return  # raise_exception(): the template's rule about messages, not a fault
            raise FreeholdError(
                f"refusing to serve '{info.id}' ({info.path}): {exc.message}; "
                "give a working template with --chat-template",
                status=500,
                type="server_error",
                code="chat_template_error",
            ) from exc

    @functools.cached_property
    def reasoning_format(self) -> reasoning.ReasoningFormat | None:
        """The model's thinking markers and switch, read from the template in force."""
        return reasoning.detect_reasoning(self.template)

    def chat(self, body: ChatCompletionRequest) -> Prepared:
        model = self.check_model(body.model)
        tr.refuse_unsupported(body)
        images = chat_images(body.messages, self.settings, self.engine.vision, model)
        s, fmt, info = self.settings, self.reasoning_format, self.engine.info
        choice = reasoning.normalize(
            body.model_dump(exclude_none=True),
            server_default=s.reasoning,
            effort_budgets=s.reasoning_budgets,
            output_default=s.reasoning_format,
        )
        kwargs = {**(body.chat_template_kwargs or {}), **reasoning.template_kwargs(choice, fmt)}
        prompt = render(
            self.template,
            tr.message_dicts(body.messages),
            bos_token=info.bos_token,
            eos_token=info.eos_token,
            add_generation_prompt=True,
            **kwargs,
        )
        plan = reasoning.plan_prompt(prompt, choice, fmt)
        think, shape = None, PartShape()
        if plan.fmt is not None:
            start, end = plan.fmt.start, plan.fmt.end
            think = ReasoningPlan(
                start, end, plan.starts_inside, plan.budget, thinking=plan.thinking
            )
            shape = PartShape(plan.output, start, end)
        prepared = self._prepare(body, plan.prompt, model, shape, think, special=fmt is not None)
        prepared.request = replace(prepared.request, images=images)
        return prepared

    def completion(self, body: CompletionRequest) -> Prepared:
        model = self.check_model(body.model)
        tr.refuse_unsupported(body)
        return self._prepare(body, tr.completion_prompt(body.prompt), model, PartShape())

    def _prepare(
        self,
        body: ChatCompletionRequest | CompletionRequest,
        prompt: str,
        model: str,
        shape: PartShape,
        think: ReasoningPlan | None = None,
        special: bool = False,
    ) -> Prepared:
        include_usage = not body.stream or bool(
            body.stream_options and body.stream_options.include_usage
        )
        chat = isinstance(body, ChatCompletionRequest)
        meta = tr.ResponseMeta(model=model, chat=chat, include_usage=include_usage)
        request = GenerationRequest(
            prompt=prompt,
            max_tokens=tr.max_tokens(body),
            sampling=tr.sampling_params(body, self.engine.info.n_vocab),
            stop=tr.stop_strings(body.stop),
            reasoning=think,
            special=special,
            request_id=meta.id,
            timeout=body.t_max_predict_ms / 1000 if body.t_max_predict_ms else None,
        )
        return Prepared(request, meta, shape)
