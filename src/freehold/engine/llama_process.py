"""llama.cpp as a process: its backend and log (initialised once, before any model
load), the GPUs it sees, and a model's shape read from its GGUF without the weights."""

from __future__ import annotations

import ctypes
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import llama_cpp as L

log = logging.getLogger(__name__)

# ggml's log levels: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5. llama-cpp-python's
# own callback maps them one level off, so llama.cpp's INFO lines (hundreds per model
# load) came out as warnings; this callback passes warnings and errors on to stderr.
LOUD_LEVELS = (3, 4)


@L.llama_log_callback  # type: ignore[untyped-decorator,misc]
def _llama_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    if level in LOUD_LEVELS:
        sys.stderr.write(text.decode("utf-8", "replace"))


@dataclass(frozen=True)
class ModelShape:
    """What sizes a model's KV cache, read without loading its weights."""

    n_layer: int
    n_head_kv: int
    key_length: int
    value_length: int
    n_ctx_train: int

    def kv_bytes(self, n_ctx: int) -> int:
        """The f16 KV cache of ``n_ctx`` tokens."""
        return n_ctx * self.n_layer * self.n_head_kv * (self.key_length + self.value_length) * 2


def init_backend() -> None:
    """llama.cpp's backend, logging through ``_llama_log``; before any model load."""
    L.llama_backend_init()
    L.llama_log_set(_llama_log, ctypes.c_void_p(0))


def gpu_offload_supported() -> bool:
    return bool(L.llama_supports_gpu_offload())


def gpu_memory_total() -> int:
    """Bytes of memory on the GPU devices llama.cpp sees (0: none, or a CPU build), from
    ggml's device registry."""
    if not gpu_offload_supported():
        return 0
    try:
        from llama_cpp._ggml import libggml as G

        G.ggml_backend_dev_get.restype = ctypes.c_void_p
        G.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
        G.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
        size_p = ctypes.POINTER(ctypes.c_size_t)
        G.ggml_backend_dev_memory.argtypes = [ctypes.c_void_p, size_p, size_p]
        total = 0
        for i in range(int(G.ggml_backend_dev_count())):
            dev = G.ggml_backend_dev_get(i)
            if G.ggml_backend_dev_type(dev) in (1, 2):  # GGML_BACKEND_DEVICE_TYPE_GPU, IGPU
                free, size = ctypes.c_size_t(0), ctypes.c_size_t(0)
                G.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(size))
                total += size.value
        return total
    except (OSError, AttributeError) as exc:  # an older library: no device registry
        log.warning("cannot read the GPU's memory size (%s); budgeting by RAM", exc)
        return 0


def probe_shape(path: Path) -> ModelShape:
    """The model's shape from its GGUF metadata (a vocabulary-only load: no weights)."""
    init_backend()
    mparams = L.llama_model_default_params()
    mparams.vocab_only = True
    model = L.llama_model_load_from_file(str(path).encode(), mparams)
    if not model:
        raise RuntimeError(f"llama.cpp could not read the model file {path}")
    try:
        buf = ctypes.create_string_buffer(256)

        def number(key: str, default: int = 0) -> int:
            n = L.llama_model_meta_val_str(model, key.encode(), buf, len(buf))
            text = buf.value.decode() if n >= 0 else ""
            return int(text) if text.isdigit() else default

        arch = (
            buf.value.decode()
            if L.llama_model_meta_val_str(model, b"general.architecture", buf, len(buf)) >= 0
            else ""
        )
        heads = number(f"{arch}.attention.head_count", 1)
        head_dim = number(f"{arch}.embedding_length") // max(1, heads)
        return ModelShape(
            n_layer=number(f"{arch}.block_count"),
            n_head_kv=number(f"{arch}.attention.head_count_kv", heads),
            key_length=number(f"{arch}.attention.key_length", head_dim),
            value_length=number(f"{arch}.attention.value_length", head_dim),
            n_ctx_train=number(f"{arch}.context_length", 4096),
        )
    finally:
        L.llama_model_free(model)
