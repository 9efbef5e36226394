"""Does llama.cpp's AMX path work on this host? Asked once, in a child process.

A crash inside the server is never an acceptable probe: the child loads a small model
with the extra buffer types on (so its weights go to the AMX buffer) and decodes a few
tokens. Exit 0 means the AMX matmul ran; death by a signal means it crashes here. The
verdict is cached per CPU model, kernel, llama.cpp version and thread count, so each
host pays for the probe once.

Run as ``python -m freehold.engine.amx_probe MODEL THREADS`` (the child's entry point).
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from freehold.engine.cpu import (
    CpuInfo,
    Repack,
    RepackChoice,
    decide_repack,
    probe_key,
    read_cpuinfo,
)
from freehold.models.resolve import embedded_model

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 120.0
# Larger models make the probe's load slow; the embedded SmolLM2 is used instead.
PROBE_MAX_BYTES = 1 << 30


def probe_model(served: Path, embedded: Path | None) -> Path | None:
    """The model file the probe loads: the served one when small, else the embedded one."""
    try:
        if served.stat().st_size <= PROBE_MAX_BYTES:
            return served
    except OSError:
        pass
    return embedded


def run_probe(command: list[str], timeout: float = PROBE_TIMEOUT) -> bool | None:
    """True if ``command`` exits 0, False if it dies (signal or error), None on timeout."""
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None
    code = done.returncode
    if code < 0:
        log.warning("the AMX probe was killed by %s: the AMX path crashes here", _signal(-code))
    elif code != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
        log.warning("the AMX probe failed (exit %d): %s", code, " ".join(tail))
    return code == 0


def _signal(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def cached_verdict(cache: Path, key: str, probe: Callable[[], bool | None]) -> bool | None:
    """The cached verdict for ``key``, else ``probe()``'s, stored when it is definite."""
    try:
        verdicts = json.loads(cache.read_text())
    except (OSError, ValueError):
        verdicts = {}
    if isinstance(verdicts.get(key), bool):
        return bool(verdicts[key])
    verdict = probe()
    if verdict is not None:
        verdicts[key] = verdict
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(verdicts, indent=1))
        except OSError as exc:
            log.warning("could not cache the AMX probe's verdict in %s: %s", cache, exc)
    return verdict


def child_command(model: Path, threads: int) -> list[str]:
    return [sys.executable, "-m", "freehold.engine.amx_probe", str(model), str(threads)]


def default_cache() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("freehold")) / "amx-probe.json"


def resolve_repack(
    setting: Repack,
    model: Path,
    threads: int,
    llama_version: str,
    cpu: CpuInfo | None = None,
    cache: Path | None = None,
) -> RepackChoice:
    """The repack choice for a model about to load: ``setting`` applied to this CPU, with
    the AMX probe's (cached) verdict when ``auto`` meets an AMX CPU."""
    cpu = cpu or read_cpuinfo()
    verdict = None
    target = probe_model(model, embedded_model())
    if setting == "auto" and cpu.has_amx and target is not None:
        key = probe_key(cpu, llama_version, threads)
        verdict = cached_verdict(
            cache or default_cache(), key, lambda: run_probe(child_command(target, threads))
        )
    choice = decide_repack(setting, cpu, verdict)
    log.info("CPU %s [%s]; %s", cpu.model, " ".join(cpu.relevant_flags()), choice.describe())
    return choice


def _child(model: Path, threads: int) -> None:
    from freehold.engine.llama import BackendConfig, LlamaBackend
    from freehold.engine.types import GenerationRequest, SamplingParams

    config = BackendConfig(
        n_ctx=256, n_seq=1, n_batch=64, threads=threads, threads_batch=threads,
        n_gpu_layers=-1, flash_attn="auto", repack="on",
    )  # fmt: skip
    backend = LlamaBackend(model, config)
    tokens = backend.tokenize("The capital of France is")
    backend.decode([(t, i, 0, i == len(tokens) - 1) for i, t in enumerate(tokens)])
    greedy = GenerationRequest(prompt="", sampling=SamplingParams(temperature=0))
    sampler = backend.make_sampler(greedy)
    for step in range(4):
        token = backend.sample(sampler, -1)
        backend.decode([(token, len(tokens) + step, 0, True)])
    backend.free_sampler(sampler)
    backend.close()


if __name__ == "__main__":
    _child(Path(sys.argv[1]), int(sys.argv[2]))
