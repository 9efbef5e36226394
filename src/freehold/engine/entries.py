"""What the registry keeps per model: its spec, its state, and the limits it loads under."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from freehold.engine.lora import Adapter
from freehold.engine.types import Engine, ModelInfo
from freehold.errors import FreeholdError

log = logging.getLogger(__name__)

Status = Literal["unloaded", "loading", "loaded", "unloading"]


@dataclass(frozen=True)
class ModelSpec:
    """A model the server may load. ``memory``: estimated bytes once loaded (weights +
    KV cache; 0 = unknown); ``keep_alive``: idle seconds before unloading (None: never);
    ``options``: the server settings this model sets for itself."""

    id: str
    path: str = ""
    aliases: tuple[str, ...] = ()
    memory: int = 0
    keep_alive: float | None = 300.0
    adapters: tuple[Adapter, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


EngineFactory = Callable[[ModelSpec], Engine]


@dataclass(eq=False)
class Entry:
    spec: ModelSpec
    engine: Engine | None = None
    status: Status = "unloaded"
    task: asyncio.Task[None] | None = None  # the load or unload in progress
    users: int = 0
    last_used: float = 0.0
    keep_alive: float | None = None  # the last request's choice, else the spec's
    expires_at: float | None = None  # wall-clock time of the idle unload
    timer: asyncio.TimerHandle | None = None
    info: ModelInfo | None = None  # known once loaded; kept after unloading

    @property
    def id(self) -> str:
        return self.spec.id


@dataclass
class Limits:
    max_loaded: int = 0  # 0: no limit
    memory_budget: int = 0  # bytes; 0: no limit
    max_waiting: int = 64  # requests waiting for room to load their model


async def finished(task: asyncio.Task[None], loading: bool) -> None:
    """Wait for a load or unload; a failed load raises its error in every waiter."""
    await asyncio.wait({task})
    if loading and not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]


def gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB ({n} bytes)"


def load_failed(entry: Entry, exc: BaseException) -> FreeholdError:
    if isinstance(exc, FreeholdError):
        return exc
    log.error("could not load %s: %s", entry.id, exc)
    return FreeholdError(
        f"could not load the model '{entry.id}': {exc}",
        status=503,
        type="server_error",
        code="model_load_failed",
        headers={"Retry-After": "5"},
    )
