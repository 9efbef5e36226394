"""The glue between routes and the engines: model lookup, planning, leased streams.

The Service reaches engines through the Registry: a request names a model, the registry
loads it if need be, and the request's stream holds a lease on it until it ends. Every
generating route hands it a ``Turn``; ``prepare`` plans it (``planner.plan``) and
``stream`` runs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager

from freehold.api.metrics import Metrics
from freehold.api.model_view import ModelView
from freehold.api.planner import Planned, plan
from freehold.api.turn import Turn
from freehold.chat import reasoning
from freehold.chat.template import choose_template, render
from freehold.chat.tools.formats import detect_tool_format
from freehold.config import Settings
from freehold.engine.failures import engine_failed
from freehold.engine.registry import Entry, Registry
from freehold.engine.types import Chunk, Engine, GenerationRequest, ModelInfo
from freehold.errors import FreeholdError

__all__ = ["ModelView", "Planned", "Service"]


class Service:
    def __init__(self, settings: Settings, models: Registry | Engine, metrics: Metrics) -> None:
        registry = models if isinstance(models, Registry) else Registry.of_engine(models)
        self.settings = settings
        self.registry = registry
        self.metrics = metrics
        self._views: dict[tuple[str, ModelInfo], ModelView] = {}
        self.gpu_offload = False  # llama.cpp was built with a GPU backend (set by serve)
        registry.check = self.check_template

    def stream(self, endpoint: str, planned: Planned) -> AsyncGenerator[Chunk, None]:
        """The engine's chunks for ``planned``, observed by the metrics as ``endpoint``;
        the model stays loaded (leased) until the stream ends."""
        entry = planned.model.entry
        chunks = self._leased(entry, planned.request, planned.keep_alive)
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
            raise engine_failed(failure, status=503)
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

    async def prepare(self, turn: Turn, request_id: str = "") -> Planned:
        """The engine request for ``turn`` on the model it names, by the one planner
        (``planner.plan``; 400s for what the model cannot do with it)."""
        model = await self.model(turn.model)
        model.require_generative()
        named = self.registry.lookup(turn.model)[1]
        # a template may run long, an image be fetched: off the event loop
        return await asyncio.to_thread(plan, turn, model, request_id, named)

    async def count_tokens(self, turn: Turn) -> int:
        """The prompt tokens ``turn`` is charged: the engine's usage counts the same."""
        planned = await self.prepare(turn)
        async with self.registry.lease(planned.model.entry) as engine:
            return len(engine.vocab.tokenize(planned.request.prompt))

    def prompt_tokens(self, planned: Planned) -> int:
        """``count_tokens`` for a request already planned (0 if its model went away)."""
        engine = planned.model.entry.engine
        return len(engine.vocab.tokenize(planned.request.prompt)) if engine is not None else 0
