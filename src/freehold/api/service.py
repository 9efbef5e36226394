"""The glue between routes and the engines: model lookup, prompt rendering, request building.

The Service reaches engines through the Registry: a request names a model, the registry
loads it if need be, and the request's stream holds a lease on it until it ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, replace

from freehold.api import translate as tr
from freehold.api.images import chat_images, turn_images
from freehold.api.metrics import Metrics
from freehold.api.model_options import choose_adapters, parse_keep_alive
from freehold.api.openai_tools import output_plan, response_grammar
from freehold.api.openai_wire import PartShape
from freehold.api.schemas import ChatCompletionRequest, CompletionRequest
from freehold.api.turn import Turn
from freehold.chat import reasoning
from freehold.chat.template import choose_template, render
from freehold.chat.tools.formats import ToolFormat, detect_tool_format, template_takes_tools
from freehold.chat.tools.plan import OutputPlan
from freehold.config import Settings
from freehold.engine.pooling import refuse_generation
from freehold.engine.registry import Entry, Registry
from freehold.engine.types import Chunk, Engine, GenerationRequest, ModelInfo, ReasoningPlan
from freehold.errors import FreeholdError


@dataclass
class Prepared:
    request: GenerationRequest
    meta: tr.ResponseMeta
    shape: PartShape
    entry: Entry | None = None  # the model that serves it (None: the default)
    keep_alive: float | None = None  # the request's keep_alive in seconds, if it gave one


@dataclass(frozen=True)
class Planned:
    """A Turn rendered for the engine: the request, how to read its output, its model."""

    request: GenerationRequest
    plan: reasoning.PromptPlan
    model: ModelView

    @property
    def hide_reasoning(self) -> bool:
        return self.plan.output == "hidden"


@dataclass(frozen=True)
class ModelView:
    """What the Service knows of one model once loaded: its facts and template."""

    entry: Entry
    info: ModelInfo
    settings: Settings
    template: str
    reasoning_format: reasoning.ReasoningFormat | None
    tool_format: ToolFormat

    @property
    def id(self) -> str:
        return self.entry.id

    def capabilities(self) -> dict[str, object]:
        return {
            **reasoning.capabilities(self.reasoning_format, self.settings.reasoning),
            **self.pooling(),
            "tools": True,
            "tool_format": self.tool_format.name,
            "structured_output": ["json_object", "json_schema", "grammar"],
            "logprobs": True,
        }

    def pooling(self) -> dict[str, object]:
        """What a loaded model offers besides generation (embeddings, rerank, images)."""
        engine = self.entry.engine
        if engine is None or not engine.ready:
            return {}
        return {**engine.pooler.facts.capabilities(), "vision": engine.vision}

    def vision(self) -> bool:
        engine = self.entry.engine
        return engine is not None and engine.vision

    def require_generative(self) -> None:
        """A GGUF that declares its pooling is an embedding model or a reranker: it has
        no use for generation (and a BERT has no output head), so that is a 400."""
        if self.info.pooling is not None:
            raise refuse_generation(self.id, self.info.pooling)


class Service:
    def __init__(self, settings: Settings, models: Registry | Engine, metrics: Metrics) -> None:
        registry = models if isinstance(models, Registry) else Registry.of_engine(models)
        self.settings = settings
        self.registry = registry
        self.metrics = metrics
        self._views: dict[tuple[str, ModelInfo], ModelView] = {}
        self.gpu_offload = False  # llama.cpp was built with a GPU backend (set by serve)
        registry.check = self.check_template

    def generate(self, prepared: Prepared) -> AsyncGenerator[Chunk, None]:
        """The engine's chunks for ``prepared``, observed by the metrics; the model stays
        loaded (leased) until the stream ends."""
        endpoint = "chat" if prepared.meta.chat else "completions"
        entry = prepared.entry or self.registry.default
        chunks = self._leased(entry, prepared.request, prepared.keep_alive)
        return self.metrics.observe(endpoint, chunks)

    def stream(self, endpoint: str, planned: Planned) -> AsyncGenerator[Chunk, None]:
        """``generate`` for a planned Turn (the Responses and Anthropic dialects)."""
        chunks = self._leased(planned.model.entry, planned.request, None)
        return self.metrics.observe(endpoint, chunks)

    async def _leased(
        self, entry: Entry, request: GenerationRequest, keep_alive: float | None
    ) -> AsyncGenerator[Chunk, None]:
        lease = self.registry.lease(entry, keep_alive)
        async with lease as engine, aclosing(engine.generate(request)) as chunks:
            async for chunk in chunks:
                yield chunk

    def settings_for(self, entry: Entry) -> Settings:
        """The server's settings with the model's own (from the config's ``models``)."""
        options = entry.spec.options
        return self.settings.model_copy(update=dict(options)) if options else self.settings

    def view(self, entry: Entry) -> ModelView | None:
        """The model's view if it was ever loaded (its facts are known), else None."""
        info = entry.info
        if info is None:
            return None
        key = (entry.id, info)
        if key not in self._views:
            s = self.settings_for(entry)
            template = choose_template(info.chat_template, s.chat_template, s.fallback_template)
            fmt = reasoning.detect_reasoning(template)
            tools = detect_tool_format(template)
            self._views[key] = ModelView(entry, info, s, template, fmt, tools)
        return self._views[key]

    def check_started(self) -> None:
        if not self.registry.started:
            raise FreeholdError(
                "the model is still loading; retry shortly",
                status=503,
                type="server_error",
                code="model_not_ready",
                headers={"Retry-After": "2"},
            )

    async def model(self, name: str | None) -> ModelView:
        """The model a request names, loaded first if its facts are not known yet."""
        entry = self.registry.resolve(name)
        self.check_started()
        self.registry.check_fits(entry)
        failure = entry.engine.failure if entry.engine is not None else None
        if failure is not None:
            raise FreeholdError(
                f"the server cannot generate any more ({failure}); restart it",
                status=503,
                type="server_error",
                code="engine_failed",
            )
        view = self.view(entry)
        if view is None:
            async with self.registry.lease(entry):
                pass
            view = self.view(entry)
        assert view is not None
        return view

    def check_template(self, entry: Entry | None = None) -> None:
        """Render a one-message chat with the template in force, at load: a template that
        the sandbox stops or that cannot render is refused with the model's name and why."""
        view = self.view(entry or self.registry.default)
        if view is None:
            return
        info = view.info
        try:
            render(
                view.template,
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

    @asynccontextmanager
    async def using(self, name: str | None) -> AsyncIterator[tuple[ModelView, Engine]]:
        """The model a request names and its engine, loaded and kept loaded for the block
        (tokenize, embeddings, rerank)."""
        view = await self.model(name)
        async with self.registry.lease(view.entry) as engine:
            yield view, engine

    async def chat(self, body: ChatCompletionRequest) -> Prepared:
        model = await self.model(body.model)
        model.require_generative()
        tr.refuse_unsupported(body)
        return await asyncio.to_thread(self._chat, body, model)  # a template may run long

    def _chat(self, body: ChatCompletionRequest, model: ModelView) -> Prepared:
        s, fmt = model.settings, model.reasoning_format
        images = chat_images(body.messages, s, model.vision(), model.id)
        choice = reasoning.normalize(
            body.model_dump(exclude_none=True),
            server_default=s.reasoning,
            effort_budgets=s.reasoning_budgets,
            output_default=s.reasoning_format,
        )
        out = output_plan(body, model.tool_format, template_takes_tools(model.template))
        plan = reasoning.plan_prompt(self._render(body, model, choice, out), choice, fmt)
        think, shape = None, PartShape()
        if plan.fmt is not None:
            start, end = plan.fmt.start, plan.fmt.end
            think = ReasoningPlan(
                start, end, plan.starts_inside, plan.budget, thinking=plan.thinking
            )
            shape = PartShape(plan.output, start, end)
        special = fmt is not None or out.tool_format is not None
        prepared = self._prepare(body, plan.prompt, model, shape, think, special, out)
        prepared.request = replace(prepared.request, images=images)
        return prepared

    @staticmethod
    def _render(
        body: ChatCompletionRequest,
        model: ModelView,
        choice: reasoning.ReasoningChoice,
        out: OutputPlan,
    ) -> str:
        kwargs = {
            **(body.chat_template_kwargs or {}),
            **reasoning.template_kwargs(choice, model.reasoning_format),
        }
        if out.template_tools is not None:
            kwargs["tools"] = out.template_tools
        return render(
            model.template,
            tr.with_system_note(tr.message_dicts(body.messages), out.system_note),
            bos_token=model.info.bos_token,
            eos_token=model.info.eos_token,
            add_generation_prompt=True,
            **kwargs,
        )

    async def prepare(self, turn: Turn, request_id: str = "") -> Planned:
        """The engine request for ``turn`` on the model it names: reasoning normalised,
        the template rendered, the think block planned (400s for bad reasoning fields or
        messages the template rejects)."""
        model = await self.model(turn.model)
        model.require_generative()
        return await asyncio.to_thread(self._plan, turn, model, request_id)  # template: slow

    def _plan(self, turn: Turn, model: ModelView, request_id: str) -> Planned:
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
            tr.with_system_note(list(turn.messages), out.system_note),
            bos_token=info.bos_token,
            eos_token=info.eos_token,
            add_generation_prompt=True,
            **kwargs,
        )
        plan = reasoning.plan_prompt(prompt, choice, fmt)
        think = None
        if plan.fmt is not None:
            start, end = plan.fmt.start, plan.fmt.end
            think = ReasoningPlan(
                start, end, plan.starts_inside, plan.budget, thinking=plan.thinking
            )
        images = turn_images(turn.messages, s, model.vision(), model.id)
        request = GenerationRequest(
            images=images,
            prompt=plan.prompt + turn.prefill,
            max_tokens=turn.max_tokens,
            sampling=turn.sampling,
            stop=turn.stop,
            reasoning=think,
            special=fmt is not None or out.tool_format is not None,
            request_id=request_id,
            timeout=turn.timeout,
            tool_format=out.tool_format,
            grammar=out.grammar,
        )
        return Planned(request, plan, model)

    async def count_tokens(self, turn: Turn) -> int:
        """The prompt tokens ``turn`` is charged: the engine's usage counts the same."""
        planned = await self.prepare(turn)
        async with self.registry.lease(planned.model.entry) as engine:
            return len(engine.vocab.tokenize(planned.request.prompt))

    def prompt_tokens(self, planned: Planned) -> int:
        """``count_tokens`` for a request already planned (0 if its model went away)."""
        engine = planned.model.entry.engine
        return len(engine.vocab.tokenize(planned.request.prompt)) if engine is not None else 0

    async def completion(self, body: CompletionRequest) -> Prepared:
        model = await self.model(body.model)
        model.require_generative()
        tr.refuse_unsupported(body)
        output = OutputPlan(grammar=response_grammar(None, body.grammar))
        prompt = tr.completion_prompt(body.prompt)
        return self._prepare(body, prompt, model, PartShape(), output=output)

    def _prepare(
        self,
        body: ChatCompletionRequest | CompletionRequest,
        prompt: str,
        model: ModelView,
        shape: PartShape,
        think: ReasoningPlan | None = None,
        special: bool = False,
        output: OutputPlan | None = None,
    ) -> Prepared:
        include_usage = not body.stream or bool(
            body.stream_options and body.stream_options.include_usage
        )
        chat = isinstance(body, ChatCompletionRequest)
        named = self.registry.lookup(body.model)[1]
        adapters = choose_adapters(model.id, model.entry.spec.adapters, named, body.lora)
        shown = body.model if named is not None and body.model else model.id
        output = output or OutputPlan()
        meta = tr.ResponseMeta(
            model=shown,
            chat=chat,
            include_usage=include_usage,
            n=body.n or 1,
            logprobs=tr.top_logprobs(body, chat),
            prompt_chars=0 if chat else len(prompt),
        )
        request = GenerationRequest(
            prompt=prompt,
            max_tokens=tr.max_tokens(body),
            sampling=tr.sampling_params(body, model.info.n_vocab),
            stop=tr.stop_strings(body.stop),
            reasoning=think,
            special=special,
            request_id=meta.id,
            timeout=body.t_max_predict_ms / 1000 if body.t_max_predict_ms else None,
            adapters=adapters,
            tool_format=output.tool_format,
            grammar=output.grammar,
            logprobs=meta.logprobs,
            n=meta.n,
        )
        return Prepared(request, meta, shape, model.entry, parse_keep_alive(body.keep_alive))
