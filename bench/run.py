"""Benchmark freehold against llama-server and llama-cpp-python's server.

usage: .venv/bin/python bench/run.py [--quick] [--rounds 3] [--servers freehold,llama-server]

Starts the servers on 127.0.0.1 (same model, threads, context, slots, repack choice),
waits for the machine's load average to fall (--max-loadavg), and measures one at a
time, phase by phase in turn, for several rounds (bench/phases.py), with the streaming
load generator in bench/loadgen.py; writes RESULTS.md (medians with their spread),
results.json, throughput.png and ttft.png (into bench/, or bench/.work/ with --quick).
`--report-only` re-renders them from an existing results.json.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

import phases  # noqa: E402
import plots  # noqa: E402
import report  # noqa: E402
import sections  # noqa: E402
from sampler import wait_for_loadavg, wait_for_quiet  # noqa: E402
from servers import LLAMA_SERVER, MODEL, ROOT, SERVERS, Config  # noqa: E402

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
        "model": MODEL.name,
        "threads": args.threads,
        "ctx_size": args.ctx_size,
        "parallel": args.parallel,
        "concurrency": [1, 4] if quick else [int(c) for c in args.concurrency.split(",")],
        "requests_per_conc": 1 if quick else 4,
        "max_tokens": 32 if quick else 128,
        "prefix_requests": 4 if quick else 16,
        "shared_requests": 4 if quick else 8,
        "prefix_max_tokens": 8 if quick else 16,
        "rounds": 1 if quick else args.rounds,
        "quiet_wait_s": args.quiet_wait,
        "max_loadavg": args.max_loadavg,
        "loadavg_wait_s": args.loadavg_wait,
        "retries": args.retries,
        "max_background": args.max_background,
    }


def bench_all(names: list[str], cfg: Config, results: dict[str, Any], out: Path) -> None:
    """Start every server, measure them phase by phase in turn, stop them all.

    results["servers"] fills in as phases end; the outputs are rewritten after each.
    """
    s = results["settings"]
    results["loadavg_at_start"] = wait_for_loadavg(s["max_loadavg"], s["loadavg_wait_s"])
    print(f"load average at start: {results['loadavg_at_start']}", flush=True)
    if s["quiet_wait_s"] > 0:
        print(f"other load before start: {wait_for_quiet(s['quiet_wait_s'])} cores", flush=True)
    targets: list[phases.Target] = []
    try:
        for name in names:
            targets.append(phases.start(name, cfg, WORK))
            results["servers"][name] = targets[-1].out
        phases.measure_all(targets, s, system_prompt, lambda: write_outputs(results, out))
    finally:
        for target in targets:
            if target.alive:
                phases.stop(target)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a reduced smoke-test run")
    p.add_argument("--servers", default="freehold,llama-server,llama-cpp-python",
                   help="comma-separated: " + ", ".join(SERVERS))  # fmt: skip
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ctx-size", type=int, default=12288)
    p.add_argument("--parallel", type=int, default=8)
    p.add_argument("--quiet-wait", type=float, default=120.0,
                   help="before each phase, wait up to this many seconds for other "
                   "processes to use under 0.3 cores (0: do not wait)")  # fmt: skip
    p.add_argument("--retries", type=int, default=2,
                   help="run a phase again (at most this often) when other processes took "
                   "more than --max-background cores during it")  # fmt: skip
    p.add_argument("--max-background", type=float, default=0.5)
    p.add_argument("--rounds", type=int, default=3, help="rounds of every phase (median)")
    p.add_argument("--concurrency", default="1,4,8,16", help="comma-separated load phases")
    p.add_argument(
        "--max-loadavg",
        type=float,
        default=1.5,
        help="before starting, wait until the 1-minute load average is below this",
    )
    p.add_argument(
        "--loadavg-wait",
        type=float,
        default=1800.0,
        help="the longest wait for --max-loadavg (seconds), then start anyway",
    )
    p.add_argument("--note", default="", help="a line for RESULTS.md (e.g. the machine state)")
    p.add_argument(
        "--repack",
        choices=("on", "off", "auto"),
        default="auto",
        help="llama.cpp weight repacking for every server (freehold's rule)",
    )
    p.add_argument("--out", type=Path, help="output folder (default bench/, quick: bench/.work/)")
    p.add_argument("--report-only", action="store_true", help="re-render from results.json")
    return p.parse_args(argv)


def repack_choice(setting: str, threads: int) -> Any:
    """freehold's own repack decision (the AMX probe included), for all servers alike."""
    import llama_cpp

    from freehold.engine.amx_probe import resolve_repack

    return resolve_repack(setting, MODEL, threads, llama_cpp.__version__)  # type: ignore[arg-type]


def write_report(results: dict[str, Any], out: Path) -> None:
    """results.json and RESULTS.md (no plotting library needed)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    md = out / "RESULTS.md"  # the sections below sections.MARKER are not run.py's: kept
    md.write_text(sections.with_kept(report.render(results), md.read_text() if md.exists() else ""))


def write_outputs(results: dict[str, Any], out: Path) -> None:
    write_report(results, out)
    plots.throughput(results, out / "throughput.png")
    plots.ttft(results, out / "ttft.png")
    print(f"  wrote {out / 'RESULTS.md'}, throughput.png, ttft.png", flush=True)


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    # SIGTERM, and SIGINT even where a shell started us in the background with it ignored,
    # unwind through bench_all's `finally`, so no server is left running.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
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
    repack = repack_choice(args.repack, args.threads)
    print(f"all servers: {repack.describe()}", flush=True)
    cfg = Config(MODEL, args.threads, args.ctx_size, args.parallel, repack.enabled)
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M %Z"),
        "command": "python bench/run.py " + shlex.join(sys.argv[1:] if argv is None else argv),
        "machine": machine_info(),
        "versions": versions(),
        "settings": {**settings(args), "repack": repack.describe()},
        "servers": {},
        **({"note": args.note} if args.note else {}),
    }
    bench_all(names, cfg, results, out)
    write_outputs(results, out)
    return 1 if any("error" in v for v in results["servers"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
