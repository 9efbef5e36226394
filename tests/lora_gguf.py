"""A test LoRA adapter for SmolLM2-135M, written offline with the ``gguf`` package.

Seeded random low-rank deltas on every layer's attention query and value projections
(``blk.N.attn_q.weight.lora_a`` / ``.lora_b``), strong enough to change greedy output.
SmolLM2-135M's shapes are fixed (30 layers, 576 wide, 3 of 9 heads for K/V), so no model
file is read. Written into a tmp dir; a .gguf is never committed.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

N_LAYER, N_EMBD, N_KV = 30, 576, 192  # SmolLM2-135M: 9 heads of 64, 3 of them for K/V
RANK = 8


def make_lora_gguf(dst: Path, seed: int = 16, strength: float = 0.15) -> Path:
    """Write the adapter to ``dst``; lora_a is (rank, n_in), lora_b (n_out, rank) in numpy
    order, which is what llama.cpp's loader checks."""
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(dst), "llama")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(RANK))
    for layer in range(N_LAYER):
        for name, n_out in (("attn_q", N_EMBD), ("attn_v", N_KV)):
            a = rng.normal(0, strength, (RANK, N_EMBD)).astype(np.float32)
            b = rng.normal(0, strength, (n_out, RANK)).astype(np.float32)
            writer.add_tensor(f"blk.{layer}.{name}.weight.lora_a", a)
            writer.add_tensor(f"blk.{layer}.{name}.weight.lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dst
