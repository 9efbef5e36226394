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
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import loadgen
import rounds
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
        loadavg = os.getloadavg()[0]
        row = fn(target, attempt)
        row["cpu"] = target.sampler.enter("idle")
        row["loadavg"] = round(max(loadavg, os.getloadavg()[0]), 2)
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


def prefix_phase(
    s: dict[str, Any], system_prompt: Callable[[int], str], variant: int, at_once: bool
) -> Phase:
    """Chats sharing one long system prompt: one after another, or ``at_once``."""
    run_chats = loadgen.run_shared if at_once else loadgen.run_prefix
    count = s["shared_requests" if at_once else "prefix_requests"]

    def run(target: Target, attempt: int) -> dict[str, Any]:
        # a new system prompt per round and attempt: none starts from a warm cache
        srv, max_tokens = target.server, s["prefix_max_tokens"]
        system = system_prompt(variant + attempt)
        return asyncio.run(
            run_chats(srv.base, srv.model_id, system, count, max_tokens, _extra(target))
        )

    return run


def _show(name: str, phase: str, row: dict[str, Any]) -> None:
    other = f"other load {row['cpu']['background']} cores"
    if "ttft_max_s" in row:
        what = f"TTFT p50 {row['ttft_p50_s']:.3f}s, max {row['ttft_max_s']:.3f}s"
    elif "agg_tok_s" in row:
        what = (
            f"{row['agg_tok_s']:.1f} tok/s, TTFT p50 {row['ttft_p50_s']:.3f}s, "
            f"per-stream {row['per_stream_tok_s_p50']:.1f} tok/s"
        )
    else:
        what = f"TTFT first {row['ttft_first_s']:.3f}s, rest p50 {row['ttft_rest_p50_s']:.3f}s"
    print(f"  {name} {phase}: {what}, {other}, loadavg {row['loadavg']}", flush=True)


# The phases the targets need come first, so that a run cut short still has them.
PRIORITY = ["c8", "c1", "shared", "c16", "prefix", "c4"]


def _priority(item: tuple[str, Phase]) -> int:
    return PRIORITY.index(item[0]) if item[0] in PRIORITY else len(PRIORITY)


def phases_of(s: dict[str, Any], system_prompt: Callable[[int], str], r: int) -> list[Any]:
    """Round ``r``'s phases, in priority order (each system prompt new to the servers)."""
    phases: list[tuple[str, Phase]] = [(f"c{c}", load_phase(c, s)) for c in s["concurrency"]]
    phases.append(("prefix", prefix_phase(s, system_prompt, 100 * r, at_once=False)))
    phases.append(("shared", prefix_phase(s, system_prompt, 100 * r + 50, at_once=True)))
    return sorted(phases, key=_priority)


def measure_all(
    targets: list[Target],
    s: dict[str, Any],
    system_prompt: Callable[[int], str],
    progress: Callable[[], None],
) -> None:
    """``s["rounds"]`` rounds; in each, every phase on every live server, the servers in
    turn (their order reversed every other round); progress() after each."""
    for r in range(s["rounds"]):
        for phase, fn in phases_of(s, system_prompt, r):
            order = targets if r % 2 == 0 else targets[::-1]
            for target in [t for t in order if t.alive]:
                try:
                    row = run_phase(phase, target, s, fn)
                except Exception as exc:  # noqa: BLE001 - one failing must not stop the others
                    fail(target, exc)
                    continue
                target.out.setdefault("runs", {}).setdefault(phase, []).append(row)
                rounds.summarise(target.out)
                _show(f"{target.name} round {r + 1}", phase, row)
                target.out["rss_phases"] = dict(target.sampler.peaks)
                progress()
