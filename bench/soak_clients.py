"""What the soak's clients do: one request of a random kind, and whether its answer was
one the server may give.

Kinds: ``stream`` (read to [DONE]), ``chat`` (not streamed), ``disconnect`` (a stream
dropped after its first events), ``bad`` (a malformed or refused request), ``large``
(a prompt that fits a slot only just) and ``oversize`` (one that cannot fit). Every kind
may also meet overload: a 429, which must carry Retry-After. Anything else, a 5xx above
all, is unexpected.
"""

from __future__ import annotations

import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

CHAT = "/v1/chat/completions"
QUESTION = [{"role": "user", "content": "Tell me about the sea."}]
FILLER = "The quick brown fox jumps over the lazy dog. "  # about 10 tokens


@dataclass
class Outcome:
    kind: str
    status: int
    expected: bool
    detail: str = ""
    retry_after: bool = True  # a 429 said when to retry
    retry_seconds: float = 0.0
    tokens: int = 0
    note: str = ""  # e.g. the code of a stream's error event

    @property
    def label(self) -> str:
        return f"{self.kind} {self.status}" + (f" {self.note}" if self.note else "")


def _body(max_tokens: int, stream: bool, messages: list[dict[str, str]] | None = None) -> dict:
    return {
        "messages": messages or QUESTION,
        "max_tokens": max_tokens,
        "stream": stream,
        "stream_options": {"include_usage": True} if stream else None,
    }


def _error_shaped(text: str) -> bool:
    try:
        error = json.loads(text)["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(error, dict) and isinstance(error.get("message"), str)


def _refusal(kind: str, r: httpx.Response, text: str, allowed: tuple[int, ...]) -> Outcome:
    """An answer other than 200: fine if it is an allowed status (or 429, overload) in
    the error shape."""
    ok = r.status_code in (*allowed, 429) and _error_shaped(text)
    retry = r.status_code != 429 or "retry-after" in r.headers
    wait = float(r.headers.get("retry-after", "0") or 0) if r.status_code == 429 else 0.0
    return Outcome(kind, r.status_code, ok and retry, "" if ok else text[:200], retry, wait)


async def stream(client: httpx.AsyncClient, rng: random.Random, stop_after: int = 0) -> Outcome:
    """A streamed chat read to [DONE]; with ``stop_after``, dropped after that many events."""
    kind = "disconnect" if stop_after else "stream"
    async with client.stream("POST", CHAT, json=_body(rng.randint(16, 64), True)) as r:
        if r.status_code != 200:
            return _refusal(kind, r, (await r.aread()).decode(errors="replace"), ())
        events, done, finish, tokens = 0, False, None, 0
        async for line in r.aiter_lines():
            if not line.startswith("data:"):
                continue
            events += 1
            if stop_after and events >= stop_after:
                return Outcome(kind, 200, True)  # leaving closes the connection
            if line == "data: [DONE]":
                done = True
                break
            event = json.loads(line[5:])
            if "error" in event:  # never expected here
                code = event["error"].get("code")
                return Outcome(kind, 200, False, line[:200], note=str(code))
            for choice in event.get("choices") or []:
                finish = choice.get("finish_reason") or finish
            tokens = (event.get("usage") or {}).get("completion_tokens", tokens)
    ok = done and finish in ("stop", "length")
    return Outcome(kind, 200, ok, "" if ok else f"done={done} finish={finish}", tokens=tokens)


async def chat(client: httpx.AsyncClient, rng: random.Random) -> Outcome:
    r = await client.post(CHAT, json=_body(rng.randint(16, 64), False))
    if r.status_code != 200:
        return _refusal("chat", r, r.text, ())
    body = r.json()
    ok = body["choices"][0]["finish_reason"] in ("stop", "length")
    return Outcome(
        "chat", 200, ok, "" if ok else r.text[:200], tokens=body["usage"]["completion_tokens"]
    )


BAD_REQUESTS: list[tuple[str, Any, tuple[int, ...]]] = [
    ("not JSON", b"{not json", (400,)),
    ("no messages", {"max_tokens": 5}, (400,)),
    ("messages not a list", {"messages": "hi"}, (400,)),
    ("unknown role", {"messages": [{"role": "wizard", "content": "x"}]}, (400,)),
    ("unknown field", {"messages": QUESTION, "frobnicate": 1}, (400,)),
    ("negative max_tokens", {"messages": QUESTION, "max_tokens": -5}, (400,)),
    ("temperature 9", {"messages": QUESTION, "temperature": 9}, (400,)),
    ("bad logit_bias", {"messages": QUESTION, "logit_bias": {"²": 5}}, (400,)),
    # n choices need n slots at once: more than the server has is refused (n ≤ slots runs)
    ("n above the slots", {"messages": QUESTION, "n": 64}, (400,)),
    ("unknown model", {"messages": QUESTION, "model": "no-such-model"}, (404,)),
    ("array body", [1, 2, 3], (400,)),
]


async def bad(client: httpx.AsyncClient, rng: random.Random) -> Outcome:
    name, body, allowed = rng.choice(BAD_REQUESTS)
    if isinstance(body, bytes):
        r = await client.post(CHAT, content=body, headers={"content-type": "application/json"})
    else:
        r = await client.post(CHAT, json=body)
    outcome = _refusal("bad", r, r.text, allowed)
    outcome.detail = f"{name}: {outcome.detail}" if outcome.detail else ""
    return outcome


async def large(client: httpx.AsyncClient, rng: random.Random, slot_tokens: int) -> Outcome:
    """A prompt of about half a slot, answered in a few tokens."""
    words = FILLER * max(1, (slot_tokens // 2) // 10)
    r = await client.post(CHAT, json=_body(8, False, [{"role": "user", "content": words}]))
    if r.status_code != 200:
        return _refusal("large", r, r.text, (400,))
    return Outcome("large", 200, True, tokens=r.json()["usage"]["completion_tokens"])


async def oversize(client: httpx.AsyncClient, rng: random.Random, slot_tokens: int) -> Outcome:
    """A prompt of about 20 slots' worth: a 400 context_length_exceeded (or 413)."""
    words = FILLER * (slot_tokens * 2)
    r = await client.post(CHAT, json=_body(8, False, [{"role": "user", "content": words}]))
    return _refusal("oversize", r, r.text, (400, 413))


Kind = Callable[[httpx.AsyncClient, random.Random], Awaitable[Outcome]]


def mix(slot_tokens: int) -> list[tuple[Kind, int]]:
    """The kinds and their weights."""

    async def dropped(c: httpx.AsyncClient, rng: random.Random) -> Outcome:
        return await stream(c, rng, stop_after=rng.randint(1, 4))

    async def big(c: httpx.AsyncClient, rng: random.Random) -> Outcome:
        return await large(c, rng, slot_tokens)

    async def huge(c: httpx.AsyncClient, rng: random.Random) -> Outcome:
        return await oversize(c, rng, slot_tokens)

    return [(stream, 40), (chat, 20), (dropped, 15), (bad, 15), (big, 3), (huge, 3)]
