"""The registry: every configured model, loaded on demand, unloaded when idle.

Each entry goes ``unloaded → loading → loaded → unloading → unloaded``; a loaded entry
owns one engine (one scheduler thread). Requests hold a lease while they stream, so a
model in use is never unloaded. Before a load the registry makes room: it unloads idle
models, least recently used first, until both ``max_loaded`` and the memory budget
allow the new one; when only busy models stand in the way the request waits (bounded).
Everything here runs on the event loop: no locks, only awaits between decisions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from freehold.engine.entries import (
    EngineFactory,
    Entry,
    Limits,
    ModelSpec,
    Status,
    finished,
    gib,
    load_failed,
)
from freehold.engine.lora import Adapter
from freehold.engine.types import Engine
from freehold.errors import FreeholdError, not_found, queue_full

__all__ = ["EngineFactory", "Entry", "Limits", "ModelSpec", "Registry", "Status"]

log = logging.getLogger(__name__)


@dataclass
class Registry:
    specs: list[ModelSpec]
    factory: EngineFactory
    limits: Limits = field(default_factory=Limits)
    aliases: dict[str, str] = field(default_factory=dict)  # alias → model id
    # run on each load, before the model serves: raising refuses the model (its error)
    check: Callable[[Entry], None] | None = None

    def __post_init__(self) -> None:
        if not self.specs:
            raise ValueError("a registry needs at least one model")
        self._entries = {s.id: Entry(s, keep_alive=s.keep_alive) for s in self.specs}
        self._names: dict[str, Entry] = {}
        for entry in self._entries.values():
            for name in (entry.id, *entry.spec.aliases):
                self._names.setdefault(name, entry)
        self._adapters: dict[str, tuple[Entry, Adapter]] = {}
        for entry in self._entries.values():
            for adapter in entry.spec.adapters:
                self._adapters[f"{entry.id}:{adapter.name}"] = (entry, adapter)
        for alias, target in self.aliases.items():
            self._names[alias] = self.resolve(target)
        self._changed = asyncio.Event()
        self._waiting = 0
        self.started = False
        self.draining = False

    @classmethod
    def of_engine(cls, engine: Engine, keep_alive: float | None = None) -> Registry:
        """One model, the given engine, never unloaded: the single-model server."""
        info = engine.info
        spec = ModelSpec(info.id, info.path, tuple(info.aliases), keep_alive=keep_alive)
        registry = cls([spec], lambda _spec: engine)
        registry.default.info = info  # what it says of itself before it starts
        return registry

    # -- lookup ---------------------------------------------------------------------------
    @property
    def default(self) -> Entry:
        return self._entries[self.specs[0].id]

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def resolve(self, name: str | None) -> Entry:
        """The entry a request's ``model`` names (None: the default), or a 404."""
        return self.lookup(name)[0]

    def lookup(self, name: str | None) -> tuple[Entry, Adapter | None]:
        """The entry a request's ``model`` names, and the adapter when it names one as
        ``MODEL:ADAPTER``; a 404 for an unknown name."""
        if name is None:
            return self.default, None
        if name in self._adapters and name not in self._names:
            return self._adapters[name]
        entry = self._names.get(name)
        if entry is None:
            raise not_found(
                f"the model '{name}' does not exist; this server serves "
                f"{', '.join(repr(i) for i in self._entries)} (see GET /v1/models)",
                code="model_not_found",
                param="model",
            )
        return entry, None

    def names_of(self, entry: Entry) -> list[str]:
        """Every name that reaches ``entry``: its id, its own aliases and --alias ones."""
        return [n for n, e in self._names.items() if e is entry]

    def statuses(self) -> dict[str, int]:
        """How many models are in each status."""
        counts = {"loaded": 0, "loading": 0, "unloading": 0, "unloaded": 0}
        for entry in self._entries.values():
            counts[entry.status] += 1
        return counts

    def load(self) -> dict[str, int]:
        """Slot occupancy summed over the loaded models."""
        total = {"slots": 0, "busy": 0, "inflight": 0}
        for entry in self._entries.values():
            if entry.engine is not None and entry.status == "loaded":
                for key, value in entry.engine.load().items():
                    total[key] = total.get(key, 0) + value
        return total

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Load the default model; the server is ready once it is."""
        async with self.lease(self.default):
            pass

    async def stop(self) -> None:
        for entry in self._entries.values():
            self._cancel_timer(entry)
            if entry.task is not None and entry.status == "loading":
                entry.task.cancel()
        engines = [e.engine for e in self._entries.values() if e.engine is not None]
        for engine in engines:
            await engine.stop()

    def drain(self, seconds: float) -> None:
        """Shutdown has begun: loaded models end their requests within ``seconds``; no
        model loads any more."""
        self.draining = True
        for entry in self._entries.values():
            if entry.engine is not None:
                entry.engine.drain(seconds)

    @asynccontextmanager
    async def lease(self, entry: Entry, keep_alive: float | None = None) -> AsyncIterator[Engine]:
        """The entry's engine, loaded if need be, kept loaded while the lease is held.
        ``keep_alive`` (seconds; negative: forever) replaces the model's idle time."""
        engine = await self.acquire(entry)
        try:
            yield engine
        finally:
            self.release(entry, keep_alive)

    async def acquire(self, entry: Entry) -> Engine:
        entry.users += 1
        self._cancel_timer(entry)
        try:
            while True:
                if entry.status == "loaded" and entry.engine is not None:
                    return entry.engine
                if entry.task is not None:
                    await finished(entry.task, entry.status == "loading")
                    continue
                if self.draining:
                    raise FreeholdError("server shutting down", status=503, type="server_error")
                await self._make_room(entry)
                if entry.status == "unloaded" and entry.task is None:
                    entry.status = "loading"
                    entry.task = asyncio.create_task(self._load(entry))
        except BaseException:
            self.release(entry, None)
            raise

    def release(self, entry: Entry, keep_alive: float | None) -> None:
        entry.users -= 1
        entry.last_used = time.monotonic()
        if keep_alive is not None:
            entry.keep_alive = keep_alive if keep_alive >= 0 else None
        self._changed.set()
        if entry.users == 0 and entry.status == "loaded":
            self._schedule_unload(entry)

    def unload(self, entry: Entry) -> None:
        """Unload by hand: now when idle, else as soon as its last request ends."""
        entry.keep_alive = 0
        if entry.users == 0 and entry.status == "loaded":
            self._schedule_unload(entry)

    async def settle(self, entry: Entry) -> None:
        """Wait until no load or unload of ``entry`` is in progress."""
        while entry.task is not None:
            await asyncio.wait({entry.task})

    # -- internals ------------------------------------------------------------------------
    async def _load(self, entry: Entry) -> None:
        engine = self.factory(entry.spec)
        started = time.perf_counter()
        try:
            try:
                await engine.start()
            except Exception as exc:
                raise load_failed(entry, exc) from exc
            entry.info, entry.engine = engine.info, engine
            if self.check is not None:
                self.check(entry)
        except BaseException:
            entry.status, entry.task, entry.engine = "unloaded", None, None
            self._changed.set()
            await engine.stop()
            raise
        entry.status, entry.task = "loaded", None
        entry.last_used = time.monotonic()
        self.started = self.started or entry is self.default
        log.info("loaded %s in %.2f s", entry.id, time.perf_counter() - started)
        self._changed.set()

    def _schedule_unload(self, entry: Entry) -> None:
        self._cancel_timer(entry)
        if entry.keep_alive is None:
            return
        if entry.keep_alive <= 0:
            self._start_unload(entry)
            return
        loop = asyncio.get_running_loop()
        entry.expires_at = time.time() + entry.keep_alive
        entry.timer = loop.call_later(entry.keep_alive, self._start_unload, entry)

    def _cancel_timer(self, entry: Entry) -> None:
        if entry.timer is not None:
            entry.timer.cancel()
        entry.timer = entry.expires_at = None

    def _start_unload(self, entry: Entry) -> None:
        entry.timer = entry.expires_at = None
        if entry.users == 0 and entry.status == "loaded" and entry.task is None:
            entry.task = asyncio.create_task(self._unload(entry))

    async def _unload(self, entry: Entry) -> None:
        entry.status = "unloading"
        engine, entry.engine = entry.engine, None
        try:
            if engine is not None:
                await engine.stop()
        finally:
            entry.status, entry.task = "unloaded", None
            entry.keep_alive = entry.spec.keep_alive
            log.info("unloaded %s", entry.id)
            self._changed.set()

    def _occupied(self, entry: Entry) -> list[Entry]:
        return [e for e in self._entries.values() if e is not entry and e.status != "unloaded"]

    def _fits(self, entry: Entry) -> bool:
        others = self._occupied(entry)
        limits = self.limits
        if limits.max_loaded and len(others) >= limits.max_loaded:
            return False
        used = sum(e.spec.memory for e in others)
        return not limits.memory_budget or used + entry.spec.memory <= limits.memory_budget

    async def _make_room(self, entry: Entry) -> None:
        """Unload idle models (least recently used first) until ``entry`` fits; wait for
        busy ones to finish when only they stand in the way."""
        self.check_fits(entry)
        while not self._fits(entry):
            idle = [e for e in self._occupied(entry) if e.users == 0 and e.status == "loaded"]
            if idle:
                victim = min(idle, key=lambda e: e.last_used)
                log.info("unloading %s (least recently used) to load %s", victim.id, entry.id)
                self._cancel_timer(victim)
                self._start_unload(victim)
            await self._wait_for_change(entry)
            if entry.status != "unloaded" or entry.task is not None:
                return

    async def _wait_for_change(self, entry: Entry) -> None:
        if self._waiting >= self.limits.max_waiting:
            raise queue_full(
                f"server busy: {self._waiting} requests wait for room to load a model; "
                "retry shortly"
            )
        self._waiting += 1
        self._changed.clear()
        try:
            await self._changed.wait()
        finally:
            self._waiting -= 1

    def check_fits(self, entry: Entry) -> None:
        """A 507 when the model alone is larger than the memory budget (before any load)."""
        budget, need = self.limits.memory_budget, entry.spec.memory
        if budget and need > budget:
            raise FreeholdError(
                f"the model '{entry.id}' needs about {gib(need)} (weights and KV cache) "
                f"but the memory budget is {gib(budget)}; raise --memory-budget or lower "
                "its context size",
                status=507,
                type="server_error",
                code="model_too_large",
                param="model",
            )
