"""Prometheus metrics on GET /metrics, from a registry of the app's own (no global state)."""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncGenerator, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from freehold.engine.types import Chunk
from freehold.errors import FreeholdError

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


def _load_value(load: Callable[[], dict[str, int]], key: str) -> float:
    return float(load().get(key, 0))


class Metrics:
    def __init__(
        self,
        load: Callable[[], dict[str, int]],
        models: Callable[[], dict[str, int]] | None = None,
    ) -> None:
        """``load``: slot occupancy; ``models``: how many models are in each status."""
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "freehold_requests",
            "generation requests by finish reason",
            ["endpoint", "finish"],
            registry=r,
        )
        self.prompt_tokens = Counter(
            "freehold_prompt_tokens", "prompt tokens processed or reused", registry=r
        )
        self.cached_tokens = Counter(
            "freehold_cached_prompt_tokens", "prompt tokens reused from the KV cache", registry=r
        )
        self.completion_tokens = Counter(
            "freehold_completion_tokens", "tokens generated", registry=r
        )
        self.ttft = Histogram(
            "freehold_time_to_first_token_seconds",
            "time to first token",
            registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
        )
        for key, doc in (
            ("busy", "slots generating"),
            ("inflight", "requests running or queued"),
            ("slots", "slots configured"),
        ):
            gauge = Gauge(f"freehold_{key}", doc, registry=r)
            gauge.set_function(functools.partial(_load_value, load, key))
        if models is not None:
            for status in ("loaded", "loading"):
                gauge = Gauge(f"freehold_models_{status}", f"models {status}", registry=r)
                gauge.set_function(functools.partial(_load_value, models, status))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def observe(
        self, endpoint: str, chunks: AsyncGenerator[Chunk, None]
    ) -> AsyncGenerator[Chunk, None]:
        """Pass ``chunks`` through, recording time to first token and the final usage; a
        request ends as its finish reason, "refused", "error" or "cancelled"."""
        start = time.perf_counter()
        first = True
        finish = "cancelled"
        try:
            async for chunk in chunks:
                if first and (chunk.parts or chunk.finish_reason is not None):
                    self.ttft.observe(time.perf_counter() - start)
                    first = False
                if chunk.finish_reason is not None and chunk.usage is not None:
                    finish = chunk.finish_reason
                    self.prompt_tokens.inc(chunk.usage.prompt_tokens)
                    self.cached_tokens.inc(chunk.usage.cached_tokens)
                    self.completion_tokens.inc(chunk.usage.completion_tokens)
                yield chunk
        except FreeholdError as exc:  # refused (400, 429) or failed (5xx): not cancelled
            finish = "refused" if exc.status < 500 else "error"
            raise
        finally:
            self.requests.labels(endpoint, finish).inc()
            await chunks.aclose()
