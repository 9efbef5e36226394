"""Benchmark freehold against llama-server and llama-cpp-python's server.

usage: .venv/bin/python bench/run.py [--quick] [--servers freehold,llama-server,...]

Runs one server at a time on 127.0.0.1 (same model, threads, context, slots),
measures it with the streaming load generator in bench/loadgen.py, and writes
RESULTS.md, results.json and throughput.png (into bench/, or bench/.work/ with
--quick). `--report-only` re-renders them from an existing results.json.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen  # noqa: E402
import report  # noqa: E402
from sampler import ProcessSampler, wait_for_quiet  # noqa: E402
from servers import LLAMA_SERVER, MODEL, ROOT, SERVERS, Config, RunningServer  # noqa: E402

BENCH = ROOT / "bench"
WORK = BENCH / ".work"

TOPICS = [
    "orders", "refunds", "shipping", "warranties", "accounts", "passwords", "invoices",
    "discounts", "returns", "deliveries", "subscriptions", "gift cards", "complaints",
    "repairs", "exchanges", "loyalty points",
]  # fmt: skip


def system_prompt(variant: int = 0) -> str:
    """A ~1,000-token system prompt; each variant differs from its first token on."""
    rules = [
        f"Rule {i + 1}: when a customer asks about {topic}, answer politely, check the "
        f"details of their {topic} in the records first, and never promise anything about "
        f"{topic} that the policy of section {i + 3} does not allow."
        for i, topic in enumerate((TOPICS * 2)[:21])
    ]
    intro = (
        f"Profile {variant + 1}. You are a helpful assistant for a small online shop that "
        "sells books, tools and kitchen goods. Follow these house rules in every answer.\n"
    )
    return intro + "\n".join(rules) + "\nKeep answers short, friendly and accurate."


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": psutil.cpu_count(logical=True),
        "ram_gb": psutil.virtual_memory().total / 1e9,
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    commit_file = BENCH / ".build/llama_cpp_commit.txt"
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                         capture_output=True).stdout.strip()  # fmt: skip
    return {
        "freehold": _version("freehold"),
        "git": git or "uncommitted",
        "llama_cpp_python": _version("llama-cpp-python"),
        "llama_cpp_commit": commit_file.read_text().strip() if commit_file.exists() else "?",
    }


def settings(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    return {
        "model": str(MODEL.relative_to(ROOT)),
        "threads": args.threads,
        "ctx_size": args.ctx_size,
        "parallel": args.parallel,
        "concurrency": [1, 4] if quick else [1, 4, 8, 16],
        "requests_per_conc": 1 if quick else 4,
        "max_tokens": 32 if quick else 128,
        "prefix_requests": 4 if quick else 16,
        "prefix_max_tokens": 8 if quick else 16,
        "quiet_wait_s": args.quiet_wait,
        "retries": args.retries,
        "max_background": args.max_background,
    }


def _warm_up(base: str, model: str, extra: dict[str, Any]) -> None:
    asyncio.run(loadgen.run_load(base, model, 1, 1, 8, extra))


def run_phase(
    name: str, sampler: ProcessSampler, s: dict[str, Any], fn: Callable[[int], dict[str, Any]]
) -> dict[str, Any]:
    """Run fn(attempt) on a quiet machine; again (bounded) if other load disturbed it.

    Keeps the attempt with the least other load; its CPU account is in row["cpu"].
    """
    best: dict[str, Any] | None = None
    for attempt in range(s["retries"] + 1):
        if s["quiet_wait_s"] > 0:
            wait_for_quiet(s["quiet_wait_s"], sampler.server_cpu_s)
        sampler.enter(name)
        row = fn(attempt)
        row["cpu"] = sampler.enter("idle")
        row["attempt"] = attempt + 1
        if best is None or row["cpu"]["background"] < best["cpu"]["background"]:
            best = row
        if row["cpu"]["background"] <= s["max_background"] or attempt == s["retries"]:
            break
        print(f"  {name}: {row['cpu']['background']} cores of other load, again", flush=True)
    assert best is not None
    return best


def measure(server: RunningServer, sampler: ProcessSampler, s: dict[str, Any]) -> dict[str, Any]:
    """Every measurement on one ready server."""
    tag, base, model, extra = server.spec.name, server.base, server.model_id, server.spec.extra_body
    sampler.enter("warm-up")
    _warm_up(base, model, extra)
    load = []
    for conc in s["concurrency"]:
        n = s["requests_per_conc"] * conc

        def one_load(_: int, conc: int = conc, n: int = n) -> dict[str, Any]:
            return asyncio.run(loadgen.run_load(base, model, conc, n, s["max_tokens"], extra))

        row = run_phase(f"c{conc}", sampler, s, one_load)
        print(f"  {tag} c={conc}: {row['agg_tok_s']:.1f} tok/s, TTFT p50 "
              f"{row['ttft_p50_s']:.3f}s, per-stream {row['per_stream_tok_s_p50']:.1f} tok/s, "
              f"other load {row['cpu']['background']} cores", flush=True)  # fmt: skip
        load.append(row)

    def one_prefix(attempt: int) -> dict[str, Any]:
        # a new system prompt per attempt, so a retry does not start from a warm cache
        system = system_prompt(attempt)
        count, max_tokens = s["prefix_requests"], s["prefix_max_tokens"]
        return asyncio.run(loadgen.run_prefix(base, model, system, count, max_tokens, extra))

    prefix = run_phase("prefix", sampler, s, one_prefix)
    print(f"  {tag} prefix: first {prefix['ttft_first_s']:.3f}s, rest p50 "
          f"{prefix['ttft_rest_p50_s']:.3f}s ({prefix['prompt_tokens']} prompt tokens)",
          flush=True)  # fmt: skip
    return {"load": load, "prefix": prefix}


def bench_server(name: str, cfg: Config, s: dict[str, Any]) -> dict[str, Any]:
    """Start one server, measure it, stop it; errors are recorded, not raised."""
    spec = SERVERS[name]
    out: dict[str, Any] = {"background_before": wait_for_quiet(s["quiet_wait_s"])}
    print(f"== {spec.label} (other load: {out['background_before']} cores)", flush=True)
    server = RunningServer(spec, cfg, WORK)
    out["argv"] = [Path(a).name if "/" in a else a for a in server.argv]
    sampler = ProcessSampler(server.proc.pid)
    sampler.start()
    try:
        out["ready_s"] = server.wait_ready()
        out.update(measure(server, sampler, s))
    except Exception as exc:  # noqa: BLE001 - one server failing must not stop the others
        out["error"] = f"{type(exc).__name__}: {exc}"
        print(f"  {name} failed: {out['error']}", flush=True)
    finally:
        sampler.stop()
        server.stop()
    out["rss_phases"] = sampler.peaks
    out["cores_by_phase"] = sampler.cores
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a reduced smoke-test run")
    p.add_argument("--servers", default="freehold,llama-server,llama-cpp-python",
                   help="comma-separated: " + ", ".join(SERVERS))  # fmt: skip
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ctx-size", type=int, default=12288)
    p.add_argument("--parallel", type=int, default=8)
    p.add_argument("--quiet-wait", type=float, default=120.0,
                   help="before each server, wait up to this many seconds for other "
                   "processes to use under 0.3 cores (0: do not wait)")  # fmt: skip
    p.add_argument("--retries", type=int, default=2,
                   help="run a phase again (at most this often) when other processes took "
                   "more than --max-background cores during it")  # fmt: skip
    p.add_argument("--max-background", type=float, default=0.5)
    p.add_argument("--out", type=Path, help="output folder (default bench/, quick: bench/.work/)")
    p.add_argument("--report-only", action="store_true", help="re-render from results.json")
    return p.parse_args(argv)


def write_outputs(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "RESULTS.md").write_text(report.render(results))
    report.plot(results, out / "throughput.png")
    print(f"wrote {out / 'RESULTS.md'}, {out / 'throughput.png'}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out or (WORK if args.quick else BENCH)
    if args.report_only:
        write_outputs(json.loads((out / "results.json").read_text()), out)
        return 0
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    unknown = [n for n in names if n not in SERVERS]
    if unknown:
        sys.exit(f"unknown server(s): {', '.join(unknown)}")
    if "llama-server" in names and not LLAMA_SERVER.exists():
        sys.exit(f"{LLAMA_SERVER} is missing: run bench/build_llama_server.sh first")
    WORK.mkdir(parents=True, exist_ok=True)
    cfg = Config(MODEL, args.threads, args.ctx_size, args.parallel)
    s = settings(args)
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M %Z"),
        "command": "python bench/run.py " + shlex.join(sys.argv[1:] if argv is None else argv),
        "machine": machine_info(),
        "versions": versions(),
        "settings": s,
        "servers": {name: bench_server(name, cfg, s) for name in names},
    }
    write_outputs(results, out)
    return 1 if any("error" in v for v in results["servers"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
