"""Streaming load generator for OpenAI-compatible chat servers.

Adapted from ../shared/bench/loadgen.py. Each request streams
/v1/chat/completions; time to first token (TTFT) is taken at the first chunk
that carries content. Completion tokens come from the usage chunk where the
server sends one (stream_options.include_usage); otherwise from the number of
content chunks, or max_tokens when the server reports finish_reason "length".
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

PROMPTS = [
    "Write a long story about a lighthouse keeper and a storm.",
    "Explain in detail how a bicycle works, part by part.",
    "Describe the history of the printing press at length.",
    "Write a detailed travel guide for a week in Lisbon.",
]

QUESTIONS = [
    "What is the capital of France?",
    "How many legs does a spider have?",
    "Name a primary colour.",
    "What is two plus three?",
    "Which planet is closest to the sun?",
    "What do bees make?",
    "What is the boiling point of water in Celsius?",
    "Name a large animal that lives in the sea.",
    "What colour is the sky on a clear day?",
    "How many days are in a week?",
    "What is frozen water called?",
    "Name a fruit that is yellow.",
    "What do plants need to grow?",
    "Which season comes after winter?",
    "What is the opposite of hot?",
    "How many hours are in a day?",
]

TIMEOUT_S = 600.0


@dataclass
class StreamResult:
    """What one streamed request measured."""

    tokens: int
    ttft_s: float
    total_s: float
    finish_reason: str | None = None
    token_source: str = "usage"
    cached_tokens: int | None = None
    prompt_tokens: int | None = None


@dataclass
class _StreamState:
    ttft: float | None = None
    chunks: int = 0
    usage: dict[str, Any] | None = None
    finish: str | None = None
    text: list[str] = field(default_factory=list)

    def feed(self, obj: dict[str, Any], elapsed: float) -> None:
        if obj.get("usage"):
            self.usage = obj["usage"]
        for choice in obj.get("choices") or []:
            delta = choice.get("delta") or {}
            piece = delta.get("content") or delta.get("reasoning_content")
            if piece:
                self.chunks += 1
                self.text.append(piece)
                if self.ttft is None:
                    self.ttft = elapsed
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]


def _count(state: _StreamState, max_tokens: int) -> tuple[int, str]:
    if state.usage and state.usage.get("completion_tokens") is not None:
        return int(state.usage["completion_tokens"]), "usage"
    if state.finish == "length":
        return max_tokens, "finish_reason=length"
    return state.chunks, "content chunks"


def _cached(usage: dict[str, Any] | None) -> int | None:
    details = (usage or {}).get("prompt_tokens_details") or {}
    value = details.get("cached_tokens")
    return int(value) if value is not None else None


async def stream_chat(client: httpx.AsyncClient, base: str, body: dict[str, Any]) -> StreamResult:
    """Send one streaming chat request and measure it."""
    state = _StreamState()
    t0 = time.perf_counter()
    async with client.stream("POST", f"{base}/v1/chat/completions", json=body) as resp:
        if resp.status_code != 200:
            detail = (await resp.aread()).decode(errors="replace")[:300]
            raise RuntimeError(f"HTTP {resp.status_code}: {detail}")
        async for line in resp.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            state.feed(json.loads(data), time.perf_counter() - t0)
    total = time.perf_counter() - t0
    tokens, source = _count(state, int(body.get("max_tokens") or 0))
    usage = state.usage or {}
    return StreamResult(
        tokens=tokens,
        ttft_s=state.ttft if state.ttft is not None else total,
        total_s=total,
        finish_reason=state.finish,
        token_source=source,
        cached_tokens=_cached(state.usage),
        prompt_tokens=usage.get("prompt_tokens"),
    )


def chat_body(
    model: str, messages: list[dict[str, str]], max_tokens: int, seed: int, extra: dict[str, Any]
) -> dict[str, Any]:
    """The request every server gets: same sampling, plus a server's own extras."""
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": 0.8,
        "top_p": 0.95,
        "top_k": 40,
        "min_p": 0.05,
        "repeat_penalty": 1.0,
        "seed": seed,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    body.update(extra)
    return body


def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[int(q * (len(sorted_values) - 1))]


def summarise_load(results: list[StreamResult], wall_s: float, max_tokens: int) -> dict[str, Any]:
    """Aggregate tok/s, TTFT p50/p95 and per-stream decode tok/s of one load run."""
    tokens = sum(r.tokens for r in results)
    ttfts = sorted(r.ttft_s for r in results)
    per_stream = [(r.tokens - 1) / max(r.total_s - r.ttft_s, 1e-9) for r in results]
    return {
        "requests": len(results),
        "completion_tokens": tokens,
        "short_requests": sum(1 for r in results if r.tokens < max_tokens),
        "token_source": sorted({r.token_source for r in results}),
        "wall_s": wall_s,
        "agg_tok_s": tokens / wall_s,
        "ttft_p50_s": statistics.median(ttfts),
        "ttft_p95_s": _percentile(ttfts, 0.95),
        "per_stream_tok_s_p50": statistics.median(per_stream),
    }


async def run_load(
    base: str, model: str, concurrency: int, requests: int, max_tokens: int, extra: dict[str, Any]
) -> dict[str, Any]:
    """`requests` streamed chats, at most `concurrency` in flight at once."""
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency + 4)
    async with httpx.AsyncClient(timeout=TIMEOUT_S, limits=limits) as client:

        async def guarded(i: int) -> StreamResult:
            messages = [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}]
            async with sem:
                return await stream_chat(
                    client, base, chat_body(model, messages, max_tokens, i, extra)
                )

        t0 = time.perf_counter()
        results = await asyncio.gather(*(guarded(i) for i in range(requests)))
        wall = time.perf_counter() - t0
    summary = summarise_load(list(results), wall, max_tokens)
    summary["concurrency"] = concurrency
    return summary


def _chat(system: str, i: int) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]},
    ]


async def run_shared(
    base: str, model: str, system: str, count: int, max_tokens: int, extra: dict[str, Any]
) -> dict[str, Any]:
    """`count` chats sharing one long system prompt (new to the server), sent at once."""
    async with httpx.AsyncClient(
        timeout=TIMEOUT_S, limits=httpx.Limits(max_connections=count + 4)
    ) as client:
        bodies = [chat_body(model, _chat(system, i), max_tokens, i, extra) for i in range(count)]
        t0 = time.perf_counter()
        results = await asyncio.gather(*(stream_chat(client, base, b) for b in bodies))
        wall = time.perf_counter() - t0
    ttfts = sorted(r.ttft_s for r in results)
    return {
        "requests": count,
        "prompt_tokens": results[0].prompt_tokens,
        "wall_s": wall,
        "ttft_p50_s": statistics.median(ttfts),
        "ttft_p95_s": _percentile(ttfts, 0.95),
        "ttft_max_s": ttfts[-1],
        "cached_tokens": [r.cached_tokens for r in results],
    }


async def run_prefix(
    base: str, model: str, system: str, count: int, max_tokens: int, extra: dict[str, Any]
) -> dict[str, Any]:
    """`count` chats sharing one long system prompt, sent one after another."""
    results: list[StreamResult] = []
    async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
        for i in range(count):
            body = chat_body(model, _chat(system, i), max_tokens, i, extra)
            results.append(await stream_chat(client, base, body))
    rest = [r.ttft_s for r in results[1:]]
    first = results[0].ttft_s
    median_rest = statistics.median(rest) if rest else float("nan")
    return {
        "requests": count,
        "prompt_tokens": results[0].prompt_tokens,
        "ttft_first_s": first,
        "ttft_rest_p50_s": median_rest,
        "ratio_rest_first": median_rest / first if first else float("nan"),
        "cached_tokens": [r.cached_tokens for r in results],
    }
