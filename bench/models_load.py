"""Several models: cold load time and first-request latency after an eviction.

One freehold serving SmolLM2-135M and gemma-3-270m with ``--max-loaded 1``, so every
switch of model evicts the other. For each model, ``ROUNDS`` times: a request to it
while the other is loaded (evict + load + answer), then the same request again (warm),
which is the peer each cold figure is compared with in the same run. Each request asks
for one token, so the figures are load time plus one prompt step. Bounded: 2 models x
ROUNDS x 2 requests, each with a 300 s timeout.

    python bench/models_load.py [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import httpx

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))

from conftest import smollm2_path  # noqa: E402
from gemma_gguf import gemma_path  # noqa: E402
from realserver import running_server  # noqa: E402

ASK = [{"role": "user", "content": "Say hello."}]


def ask(url: str, model: str) -> float:
    body = {"model": model, "messages": ASK, "max_tokens": 1, "temperature": 0}
    start = time.perf_counter()
    r = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=300)
    r.raise_for_status()
    return time.perf_counter() - start


def load_times(log: Path) -> dict[str, list[float]]:
    """Each "loaded MODEL in S s" the registry logged (the first is the start's)."""
    found: dict[str, list[float]] = {}
    for m in re.finditer(
        r"registry: loaded (\S+) in ([\d.]+) s", log.read_text("utf-8", "replace")
    ):
        found.setdefault(m.group(1), []).append(float(m.group(2)))
    return found


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--log", type=Path, default=Path("/tmp/freehold-models-bench.log"))
    args = parser.parse_args()
    smol, gemma = smollm2_path(), gemma_path()
    assert smol is not None, "SmolLM2 is not installed (make install)"
    server_args = [
        *("-m", f"smollm2={smol}", "-m", f"gemma={gemma}", "--max-loaded", "1"),
        *("-t", str(args.threads), "-c", "2048", "-np", "1"),
    ]
    cold: dict[str, list[float]] = {"smollm2": [], "gemma": []}
    warm: dict[str, list[float]] = {"smollm2": [], "gemma": []}
    with running_server(server_args, args.log) as server:
        ask(server.base_url, "smollm2")  # the default is loaded at start: touch it once
        for _ in range(args.rounds):
            for model in ("gemma", "smollm2"):
                cold[model].append(ask(server.base_url, model))  # evicts the other
                warm[model].append(ask(server.base_url, model))
        ask(server.base_url, "gemma")
        loaded = rss(server.process.pid)
        httpx.post(f"{server.base_url}/api/unload", json={"model": "gemma"}, timeout=60)
        unloaded = rss(server.process.pid)
    loads = load_times(args.log)
    print("| model | file | load (server log, median s) | cold: evict + load + 1 token "
          "(median s) | warm: 1 token (median s) |")  # fmt: skip
    print("|---|---|---|---|---|")
    for model, path in (("smollm2", smol), ("gemma", gemma)):
        size = path.stat().st_size / 2**20
        c, w = statistics.median(cold[model]), statistics.median(warm[model])
        load = statistics.median(loads[model])
        print(f"| {model} | {size:.0f} MiB | {load:.2f} | {c:.2f} | {w:.2f} |")
    print(f"\nRSS with gemma loaded {loaded / 2**20:.0f} MiB, after POST /api/unload "
          f"{unloaded / 2**20:.0f} MiB (from /proc/PID/status VmRSS)")  # fmt: skip
    print(f"{args.rounds} rounds, threads {args.threads}; every cold figure: " +
          ", ".join(f"{m} {[round(x, 2) for x in v]}" for m, v in cold.items()))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
