"""The measurements, phase by phase, each server in turn.

All servers are started first and stay up, idle, while another one is measured;
every phase (concurrency 1, 4, 8, 16, prefix reuse) then runs on each server in
turn, so that load from other users of the shared cores, which drifts over
minutes, falls on all servers alike. A phase disturbed by more than
`max_background` cores of other load is run again (bounded); the least
disturbed attempt is kept, with its CPU account.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import loadgen
from sampler import ProcessSampler, wait_for_quiet
from servers import SERVERS, Config, RunningServer

Phase = Callable[["Target", int], dict[str, Any]]


@dataclass
class Target:
    """One server under test, its RSS/CPU sampler and what was measured on it."""

    server: RunningServer
    sampler: ProcessSampler
    out: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.server.spec.name

    @property
    def alive(self) -> bool:
        return "error" not in self.out


def start(name: str, cfg: Config, workdir: Path) -> Target:
    """Start one server and wait until it is ready (an error is recorded, not raised)."""
    server = RunningServer(SERVERS[name], cfg, workdir)
    target = Target(server, ProcessSampler(server.proc.pid))
    target.out["argv"] = [Path(a).name if "/" in a else a for a in server.argv]
    target.out["extra_body"] = server.spec.extra_body
    target.sampler.start()
    try:
        target.out["ready_s"] = server.wait_ready()
        target.sampler.enter("warm-up")
        asyncio.run(loadgen.run_load(server.base, server.model_id, 1, 1, 8, _extra(target)))
        target.sampler.enter("idle")
        print(f"== {name} ready in {target.out['ready_s']:.1f}s", flush=True)
    except Exception as exc:  # noqa: BLE001 - one server failing must not stop the others
        fail(target, exc)
    return target


def fail(target: Target, exc: BaseException) -> None:
    target.out["error"] = f"{type(exc).__name__}: {exc}"
    print(f"  {target.name} failed: {target.out['error']}", flush=True)
    stop(target)


def stop(target: Target) -> None:
    target.sampler.stop()
    target.server.stop()
    target.out["rss_phases"] = dict(target.sampler.peaks)


def _extra(target: Target) -> dict[str, Any]:
    return target.server.spec.extra_body


def run_phase(name: str, target: Target, s: dict[str, Any], fn: Phase) -> dict[str, Any]:
    """Run fn(target, attempt) on a machine as quiet as can be had; again if disturbed."""
    best: dict[str, Any] | None = None
    for attempt in range(s["retries"] + 1):
        if s["quiet_wait_s"] > 0:
            wait_for_quiet(s["quiet_wait_s"], target.sampler.server_cpu_s)
        target.sampler.enter(name)
        row = fn(target, attempt)
        row["cpu"] = target.sampler.enter("idle")
        row["attempt"] = attempt + 1
        if best is None or row["cpu"]["background"] < best["cpu"]["background"]:
            best = row
        if row["cpu"]["background"] <= s["max_background"] or attempt == s["retries"]:
            break
        print(f"  {target.name} {name}: {row['cpu']['background']} cores of other load, again")
    assert best is not None
    return best


def load_phase(conc: int, s: dict[str, Any]) -> Phase:
    def run(target: Target, _attempt: int) -> dict[str, Any]:
        srv = target.server
        n = s["requests_per_conc"] * conc
        return asyncio.run(
            loadgen.run_load(srv.base, srv.model_id, conc, n, s["max_tokens"], _extra(target))
        )

    return run


def prefix_phase(s: dict[str, Any], system_prompt: Callable[[int], str]) -> Phase:
    def run(target: Target, attempt: int) -> dict[str, Any]:
        # a new system prompt per attempt, so that a retry does not start from a warm cache
        srv, count, max_tokens = target.server, s["prefix_requests"], s["prefix_max_tokens"]
        return asyncio.run(
            loadgen.run_prefix(
                srv.base, srv.model_id, system_prompt(attempt), count, max_tokens, _extra(target)
            )
        )

    return run


def _show(name: str, phase: str, row: dict[str, Any]) -> None:
    other = f"other load {row['cpu']['background']} cores"
    if "agg_tok_s" in row:
        what = (
            f"{row['agg_tok_s']:.1f} tok/s, TTFT p50 {row['ttft_p50_s']:.3f}s, "
            f"per-stream {row['per_stream_tok_s_p50']:.1f} tok/s"
        )
    else:
        what = f"TTFT first {row['ttft_first_s']:.3f}s, rest p50 {row['ttft_rest_p50_s']:.3f}s"
    print(f"  {name} {phase}: {what}, {other}", flush=True)


# The phases the targets of issue 4 need come first, so that a run cut short still has them.
PRIORITY = ["c1", "c8", "prefix", "c16", "c4"]


def _priority(item: tuple[str, Phase]) -> int:
    return PRIORITY.index(item[0]) if item[0] in PRIORITY else len(PRIORITY)


def measure_all(
    targets: list[Target],
    s: dict[str, Any],
    system_prompt: Callable[[int], str],
    progress: Callable[[], None],
) -> None:
    """Every phase on every live server, servers in turn within a phase; progress() after each."""
    phases: list[tuple[str, Phase]] = [(f"c{c}", load_phase(c, s)) for c in s["concurrency"]]
    phases.append(("prefix", prefix_phase(s, system_prompt)))
    for phase, fn in sorted(phases, key=_priority):
        for target in [t for t in targets if t.alive]:
            try:
                row = run_phase(phase, target, s, fn)
            except Exception as exc:  # noqa: BLE001 - one server failing must not stop the others
                fail(target, exc)
                continue
            if phase == "prefix":
                target.out["prefix"] = row
            else:
                target.out.setdefault("load", []).append({"concurrency": int(phase[1:]), **row})
            _show(target.name, phase, row)
            target.out["rss_phases"] = dict(target.sampler.peaks)
            progress()
