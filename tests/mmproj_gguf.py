"""A tiny seeded vision projector (mmproj) for SmolLM2, written with the ``gguf`` package.

No small vision GGUF can be had offline, so the image tests build a LLaVA-style projector
(``clip.projector_type`` "mlp": a 2-block ViT over 16x16 patches of a 64x64 image, then a
2-layer MLP into SmolLM2's 576-wide embeddings) from seeded random weights. Its "vision" is
meaningless, but it is a real mmproj that llama.cpp's mtmd loads, encodes images with and
feeds to the model: 16 image tokens per image, different pixels give different embeddings.
The file goes to a tmp dir, never committed.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
from thinking_gguf import cached_gguf

IMAGE_SIZE, PATCH, WIDTH, FF, BLOCKS, HEADS, HIDDEN = 64, 16, 64, 128, 2, 4, 256
IMAGE_TOKENS = (IMAGE_SIZE // PATCH) ** 2


def image_tokens(image_size: int = IMAGE_SIZE) -> int:
    """The tokens one image makes: one per patch (256 for ``image_size=256``, closer to
    real projectors such as LLaVA-1.5's 576 or Gemma 3's 256)."""
    return (image_size // PATCH) ** 2


def _tensors(n_embd: int, seed: int, image_size: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def w(*shape: int, scale: float = 0.05) -> np.ndarray:
        return rng.standard_normal(shape) * scale

    t = {
        "v.patch_embd.weight": w(WIDTH, 3, PATCH, PATCH),
        "v.patch_embd.bias": w(WIDTH),
        "v.position_embd.weight": w(image_tokens(image_size), WIDTH),
        "mm.0.weight": w(HIDDEN, WIDTH),
        "mm.0.bias": w(HIDDEN),
        "mm.2.weight": w(n_embd, HIDDEN),
        "mm.2.bias": w(n_embd),
    }
    for i in range(BLOCKS):
        b = f"v.blk.{i}"
        for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
            t[f"{b}.{name}.weight"], t[f"{b}.{name}.bias"] = w(WIDTH, WIDTH), w(WIDTH)
        for name in ("ln1", "ln2"):
            t[f"{b}.{name}.weight"], t[f"{b}.{name}.bias"] = np.ones(WIDTH), np.zeros(WIDTH)
        t[f"{b}.ffn_up.weight"], t[f"{b}.ffn_up.bias"] = w(FF, WIDTH), w(FF)
        t[f"{b}.ffn_down.weight"], t[f"{b}.ffn_down.bias"] = w(WIDTH, FF), w(WIDTH)
    # the patch convolution's kernel stays F16, as converters write it
    return {
        k: v.astype(np.float16 if k == "v.patch_embd.weight" else np.float32) for k, v in t.items()
    }


def make_mmproj_gguf(
    dst: Path, n_embd: int = 576, seed: int = 0, image_size: int = IMAGE_SIZE
) -> Path:
    writer = gguf.GGUFWriter(dst, arch="clip")
    writer.add_clip_has_vision_encoder(True)
    writer.add_clip_projector_type("mlp")
    writer.add_vision_image_size(image_size)
    writer.add_vision_patch_size(PATCH)
    writer.add_vision_embedding_length(WIDTH)
    writer.add_vision_feed_forward_length(FF)
    writer.add_vision_block_count(BLOCKS)
    writer.add_vision_head_count(HEADS)
    writer.add_vision_attention_layernorm_eps(1e-5)
    writer.add_vision_projection_dim(n_embd)
    writer.add_vision_image_mean([0.5, 0.5, 0.5])
    writer.add_vision_image_std([0.5, 0.5, 0.5])
    writer.add_vision_use_gelu(True)
    for name, array in _tensors(n_embd, seed, image_size).items():
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dst


def cached_mmproj_gguf(
    cache_dir: Path, n_embd: int = 576, seed: int = 0, image_size: int = IMAGE_SIZE
) -> Path:
    key = f"{image_size}:{PATCH}:{WIDTH}:{BLOCKS}:{n_embd}:{seed}"
    return cached_gguf(
        cache_dir, "mmproj", key, lambda p: make_mmproj_gguf(p, n_embd, seed, image_size)
    )
