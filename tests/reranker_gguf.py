"""A test reranker GGUF: SmolLM2-135M's weights under the ``qwen3`` architecture, with a
seeded classification head and rank pooling.

No reranker GGUF can be had offline. llama.cpp attaches a classification head (``cls``,
``cls.output``) only for the BERT family and Qwen3 (Qwen3-Reranker), so SmolLM2's llama
weights are relabelled ``qwen3`` (its metadata keys renamed, the per-head q/k RMS norms
Qwen3 adds set to ones), given a seeded ``cls.output`` head of two labels ("yes", "no":
llama.cpp takes Qwen3's rank score as the softmax's first) and ``pooling_type`` rank.
Its scores are meaningless but real: the last token's hidden state through the head, so
they depend on the query and the document. The file goes to a tmp dir, never committed.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
from thinking_gguf import cached_gguf, source_key

ARCH = "qwen3"
LABELS = ["yes", "no"]


def _copy_fields(reader: gguf.GGUFReader, writer: gguf.GGUFWriter) -> tuple[int, int, int]:
    """Copy the metadata under ``qwen3.`` names; return (blocks, n_embd, head size)."""
    for field in reader.fields.values():
        name = field.name
        if name == gguf.Keys.General.ARCHITECTURE or name.startswith("GGUF."):
            continue
        if name.startswith("llama."):
            name = f"{ARCH}.{name.removeprefix('llama.')}"
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), kind, sub_type=sub)

    def number(key: str) -> int:
        field = reader.get_field(f"llama.{key}")
        assert field is not None, f"the source GGUF has no llama.{key}"
        return int(field.contents())

    n_embd = number("embedding_length")
    return number("block_count"), n_embd, n_embd // number("attention.head_count")


def _extra_tensors(blocks: int, n_embd: int, head: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    extra = {"cls.output.weight": (rng.standard_normal((len(LABELS), n_embd)) * 0.002)}
    for i in range(blocks):
        extra[f"blk.{i}.attn_q_norm.weight"] = np.ones(head)
        extra[f"blk.{i}.attn_k_norm.weight"] = np.ones(head)
    return {name: array.astype(np.float32) for name, array in extra.items()}


def make_reranker_gguf(src: Path, dst: Path, seed: int = 0) -> Path:
    reader = gguf.GGUFReader(src, "r")
    writer = gguf.GGUFWriter(dst, arch=ARCH, endianess=reader.endianess)
    alignment = reader.get_field(gguf.Keys.General.ALIGNMENT)
    if alignment is not None:
        writer.data_alignment = int(alignment.contents())
    extra = _extra_tensors(*_copy_fields(reader, writer), seed)
    writer.add_pooling_type(gguf.PoolingType.RANK)
    writer.add_classifier_output_labels(LABELS)
    for tensor in reader.tensors:
        data = tensor.data
        writer.add_tensor_info(tensor.name, data.shape, data.dtype, data.nbytes, tensor.tensor_type)
    for name, array in extra.items():
        writer.add_tensor_info(
            name, array.shape, array.dtype, array.nbytes, gguf.GGMLQuantizationType.F32
        )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in reader.tensors:
        writer.write_tensor_data(tensor.data, tensor_endianess=reader.endianess)
    for array in extra.values():
        writer.write_tensor_data(array)
    writer.close()
    return dst


def cached_reranker_gguf(src: Path, cache_dir: Path, seed: int = 0) -> Path:
    """``make_reranker_gguf`` once per (source, seed) in ``cache_dir``."""
    key = f"{source_key(src)}:{seed}"
    return cached_gguf(cache_dir, "reranker", key, lambda p: make_reranker_gguf(src, p, seed))
