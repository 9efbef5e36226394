"""Memory: what a model will take once loaded, the budget for all of them, our RSS."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psutil

AUTO_SHARE = 0.75  # --memory-budget auto: this share of the RAM (or of the GPU's memory)


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int
    kv_cache: int
    n_ctx: int

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache


def model_files(path: Path) -> list[Path]:
    """The file and, for a split GGUF (``-00001-of-000NN``), every shard."""
    stem, sep, rest = path.name.partition("-00001-of-")
    if not sep:
        return [path]
    return sorted(path.parent.glob(f"{stem}-*-of-{rest}")) or [path]


def estimate(path: Path, n_ctx: int) -> MemoryEstimate:
    """Weights (the file sizes) plus an f16 KV cache of ``n_ctx`` tokens (0: the model's
    training context)."""
    from freehold.engine.llama_process import probe_shape

    shape = probe_shape(path)
    n_ctx = n_ctx or shape.n_ctx_train
    weights = sum(p.stat().st_size for p in model_files(path))
    return MemoryEstimate(weights, shape.kv_bytes(n_ctx), n_ctx)


def parse_budget(text: str, offloading: bool = False) -> int:
    """Bytes from --memory-budget: a number, 0 (no limit) or 'auto' (a share of the GPU's
    memory when the models are offloaded to one, else of RAM)."""
    if text != "auto":
        return int(text)
    if offloading:
        from freehold.engine.llama_process import gpu_memory_total

        vram = gpu_memory_total()
        if vram:
            return int(vram * AUTO_SHARE)
    return int(psutil.virtual_memory().total * AUTO_SHARE)


def rss_bytes() -> int:
    """This process's resident memory (from /proc on Linux)."""
    return int(psutil.Process().memory_info().rss)
