"""The requests of bench/vision.py: an image chat and a text chat of the same token count
(probes), sent alone (TTFT) or while a long text stream decodes (the stream's gaps).

Every probe has its own nonce and its own random image, so nothing comes from the
prefix cache but the server's default system prompt, which both arms share.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
from loadgen import PROMPTS, chat_body, stream_chat
from PIL import Image

ARMS = ("image", "text")
FILLER = " the"
WAIT_S = 300.0


def png(seed: int, size: int) -> str:
    """A data URL of a seeded random RGB image, ``size`` pixels square."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@dataclass
class Probe:
    """How to build the two arms' messages on one server."""

    model: str
    image_size: int
    filler: int = 0  # FILLER repeats that make the text arm as long as the image arm

    def messages(self, arm: str, i: int) -> list[dict[str, Any]]:
        text = f"Q{i:04d} Describe it."
        if arm == "text":
            return [{"role": "user", "content": text + "\n" + FILLER * self.filler}]
        image = {"type": "image_url", "image_url": {"url": png(i, self.image_size)}}
        return [{"role": "user", "content": [{"type": "text", "text": text}, image]}]

    def body(self, arm: str, i: int) -> dict[str, Any]:
        return chat_body(self.model, self.messages(arm, i), 1, i, {})


async def send(client: httpx.AsyncClient, base: str, probe: Probe, arm: str, i: int) -> Any:
    return await stream_chat(client, base, probe.body(arm, i))


async def calibrate(client: httpx.AsyncClient, base: str, probe: Probe, start: int) -> int:
    """Set ``probe.filler`` so that the text arm's prompt has the image arm's token count."""
    want = (await send(client, base, probe, "image", start)).prompt_tokens
    probe.filler = 0
    for k in range(1, 8):
        got = (await send(client, base, probe, "text", start + k)).prompt_tokens
        if got == want:
            return int(want)
        probe.filler = max(probe.filler + want - got, 0)
    raise RuntimeError(f"no filler gives the text arm {want} prompt tokens")


class TokenClock:
    """The arrival times of a stream's content chunks."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._tick = asyncio.Event()

    def mark(self) -> None:
        self.times.append(time.perf_counter())
        self._tick.set()
        self._tick = asyncio.Event()

    async def tokens(self, n: int, stream: asyncio.Task[None]) -> None:
        """Return once ``n`` more tokens have arrived."""
        target = len(self.times) + n
        while len(self.times) < target:
            if stream.done():
                raise RuntimeError("the long stream ended early: raise --stream-tokens")
            tick = self._tick
            await asyncio.wait_for(tick.wait(), WAIT_S)


async def decode_stream(
    client: httpx.AsyncClient, base: str, model: str, max_tokens: int, clock: TokenClock
) -> None:
    messages = [{"role": "user", "content": PROMPTS[0]}]
    body = chat_body(model, messages, max_tokens, 0, {"ignore_eos": True})
    async with client.stream("POST", f"{base}/v1/chat/completions", json=body) as resp:
        resp.raise_for_status()
        async for line in resp.aiter_lines():
            data = line[5:].strip() if line.startswith("data:") else "[DONE]"
            if data != "[DONE]" and any(
                (c.get("delta") or {}).get("content") for c in json.loads(data)["choices"]
            ):
                clock.mark()


@dataclass
class StallRound:
    """One round's probes beside a stream: each arm's windows (send → first token)."""

    windows: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    prompt_tokens: dict[str, list[int]] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)

    def gaps(self, arm: str | None) -> list[float]:
        """The stream's gaps overlapping ``arm``'s windows (None: overlapping none)."""
        pairs = list(zip(self.times, self.times[1:], strict=False))
        every = [w for ws in self.windows.values() for w in ws]
        chosen = every if arm is None else self.windows[arm]
        hit = [(a, b) for a, b in pairs if _overlaps(a, b, chosen)]
        if arm is None:
            hit = [(a, b) for a, b in pairs if (a, b) not in set(hit)]
        return [b - a for a, b in hit]


def _overlaps(a: float, b: float, windows: Iterable[tuple[float, float]]) -> bool:
    return any(b > lo and a < hi for lo, hi in windows)


async def stall_round(
    base: str, probe: Probe, order: tuple[str, ...], probes: int, first: int, stream_tokens: int
) -> StallRound:
    """A long stream decodes; after a few of its tokens each probe is sent, arms taking
    turns in ``order``, the next probe a few stream tokens after the last one's answer."""
    out = StallRound({arm: [] for arm in order}, {arm: [] for arm in order})
    clock = TokenClock()
    async with httpx.AsyncClient(timeout=WAIT_S) as client:
        stream = asyncio.create_task(decode_stream(client, base, probe.model, stream_tokens, clock))
        try:
            await clock.tokens(8, stream)
            for k in range(probes):
                for j, arm in enumerate(order):
                    t0 = time.perf_counter()
                    result = await send(client, base, probe, arm, first + 2 * k + j)
                    out.windows[arm].append((t0, t0 + result.ttft_s))
                    out.prompt_tokens[arm].append(result.prompt_tokens)
                    await clock.tokens(4, stream)
        finally:
            stream.cancel()
            await asyncio.gather(stream, return_exceptions=True)
    out.times = list(clock.times)
    return out


async def ttft_round(
    base: str, probe: Probe, order: tuple[str, ...], probes: int, first: int
) -> dict[str, list[tuple[float, int]]]:
    """Each arm's probes alone on the server: (TTFT, prompt tokens), arms taking turns."""
    out: dict[str, list[tuple[float, int]]] = {arm: [] for arm in order}
    async with httpx.AsyncClient(timeout=WAIT_S) as client:
        for k in range(probes):
            for j, arm in enumerate(order):
                result = await send(client, base, probe, arm, first + 2 * k + j)
                out[arm].append((result.ttft_s, result.prompt_tokens))
    return out
