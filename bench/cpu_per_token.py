"""Server-process CPU seconds per generated token, A/B between freehold source trees.

usage: python bench/cpu_per_token.py --arm base=/tmp/base/src --arm new=src [--rounds 3]

Each arm is a freehold ``src`` directory (run with PYTHONPATH set to it). Per round, the
arms run one after another (order reversed every other round): start ``freehold serve``
as bench/run.py does, warm up, then for each concurrency stream ``requests`` chats of
``max_tokens`` tokens (ignore_eos) and take the user+system CPU time of the server's
process tree across the load, divided by the tokens generated. CPU per token moves far
less with other load on a shared machine than wall-clock throughput does. The event
loop's share is the main thread's CPU time (the scheduler and llama.cpp's threads are
the others).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import run_load  # noqa: E402
from servers import MODEL, ROOT, free_port  # noqa: E402


def _tree_cpu(proc: psutil.Process) -> tuple[float, float]:
    """(whole tree user+sys, main thread user+sys) seconds."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    main = next((t for t in proc.threads() if t.id == proc.pid), None)
    return total, (main.user_time + main.system_time) if main else 0.0


def _start(src: str, args: argparse.Namespace, log: Path) -> tuple[subprocess.Popen, str, str]:
    port = free_port()
    argv = [
        sys.executable, "-m", "freehold", "serve", "--model", str(MODEL),
        "--host", "127.0.0.1", "--port", str(port), "--threads", str(args.threads),
        "--ctx-size", str(args.ctx_size), "--parallel", str(args.parallel), "--no-repack",
    ]  # fmt: skip
    # src may be "dir:dir2": e.g. a folder whose uvloop/httptools raise ImportError
    path = os.pathsep.join(str(Path(p).resolve()) for p in src.split(":"))
    env = {**os.environ, "PYTHONPATH": path}
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: see {log}")
            try:
                if client.get(f"{base}/health").status_code == 200:
                    model = client.get(f"{base}/v1/models").json()["data"][0]["id"]
                    return proc, base, model
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
    proc.kill()
    raise TimeoutError("server not ready")


def _measure(
    base: str, model: str, proc: psutil.Process, conc: int, n: int, tokens: int
) -> dict[str, Any]:
    cpu0, main0 = _tree_cpu(proc)
    t0 = time.perf_counter()
    summary = asyncio.run(run_load(base, model, conc, n, tokens, {"ignore_eos": True}))
    wall = time.perf_counter() - t0
    cpu1, main1 = _tree_cpu(proc)
    done = summary["completion_tokens"]
    return {
        "cpu_ms_per_tok": 1e3 * (cpu1 - cpu0) / done,
        "loop_ms_per_tok": 1e3 * (main1 - main0) / done,
        "tok_s": done / wall,
        "tokens": done,
    }


def run_arm(name: str, src: str, args: argparse.Namespace) -> dict[str, Any]:
    log = Path(args.logdir) / f"{name}.log"
    popen, base, model = _start(src, args, log)
    proc = psutil.Process(popen.pid)
    try:
        asyncio.run(run_load(base, model, 2, 2, 16, {"ignore_eos": True}))  # warm up
        return {f"c{c}": _measure(base, model, proc, c, max(c * args.per_conc, args.min_requests),
                                  args.max_tokens)
                for c in args.concurrency}  # fmt: skip
    finally:
        popen.terminate()
        try:
            popen.wait(30)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arm", action="append", required=True, help="name=src_dir[:more_dirs]")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=lambda s: [int(c) for c in s.split(",")],
                    default=[8, 1])  # fmt: skip
    ap.add_argument("--per-conc", type=int, default=2, help="requests per concurrency unit")
    ap.add_argument("--min-requests", type=int, default=4, help="at least this many per run")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ctx-size", type=int, default=12288)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--logdir", default="/tmp")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    arms = dict(a.split("=", 1) for a in args.arm)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in arms}
    for r in range(args.rounds):
        order = list(arms) if r % 2 == 0 else list(reversed(arms))
        for name in order:
            res = run_arm(name, arms[name], args)
            runs[name].append(res)
            print(json.dumps({"round": r, "arm": name, **res}), flush=True)
    print("\nmedian (min-max) over rounds; load avg now", os.getloadavg()[0])
    for c in args.concurrency:
        for key in ("cpu_ms_per_tok", "loop_ms_per_tok", "tok_s"):
            cells = []
            for name in arms:
                vals = [run[f"c{c}"][key] for run in runs[name]]
                cells.append(f"{name} {statistics.median(vals):.3f} "
                             f"({min(vals):.3f}-{max(vals):.3f})")  # fmt: skip
            print(f"c={c} {key}: " + " | ".join(cells))
    if args.out:
        Path(args.out).write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
