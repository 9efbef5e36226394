"""The FastAPI app: create_app(settings, engine or registry); state lives on app.state."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from freehold import __version__
from freehold.api import errors
from freehold.api.anthropic.routes import router as anthropic_routes
from freehold.api.body_limit import BodyLimit
from freehold.api.embeddings import pooling_root, pooling_v1
from freehold.api.metrics import Metrics
from freehold.api.model_control import control
from freehold.api.responses.routes import router as responses_routes
from freehold.api.responses.store import ResponseStore
from freehold.api.routes import health, v1
from freehold.api.service import Service
from freehold.config import Settings
from freehold.engine.registry import Registry
from freehold.engine.types import Engine

log = logging.getLogger(__name__)


def create_app(settings: Settings, engine: Engine | Registry) -> FastAPI:
    """The app serving one engine or a registry of models; its lifespan loads the default
    model in the background so that /health answers 503 while loading, and stops every
    engine at shutdown."""
    registry = engine if isinstance(engine, Registry) else Registry.of_engine(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loading = asyncio.create_task(_load(app, registry))
        try:
            yield
        finally:
            loading.cancel()
            await registry.stop()

    app = FastAPI(title="freehold", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.registry = registry
    app.state.metrics = Metrics(registry.load, registry.statuses)
    app.state.service = Service(settings, registry, app.state.metrics)
    app.state.api_keys = settings.api_keys()
    app.state.responses = ResponseStore(settings.responses_store)
    app.state.load_error = None
    errors.install(app)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    if settings.cors_origins:  # outermost, so that errors (401, 413) carry CORS headers too
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["*"],
            expose_headers=["Retry-After"],
            max_age=600,
        )
    app.include_router(health)
    app.include_router(v1)
    app.include_router(control)
    app.include_router(pooling_v1)
    app.include_router(pooling_root)
    app.include_router(anthropic_routes)
    app.include_router(responses_routes)
    if settings.webui:
        from freehold.webui import install as install_webui

        install_webui(app)
    return app


async def _load(app: FastAPI, registry: Registry) -> None:
    try:
        await registry.start()
    except Exception as exc:  # the server cannot serve without its model: stop it
        log.error("could not load the model: %s", exc)
        app.state.load_error = exc
        os.kill(os.getpid(), signal.SIGTERM)
