"""One loaded model on llama.cpp: model loading, tokens, batched decode, samplers.

Every method except ``load`` and ``tokenize`` is called from the scheduler thread alone.
llama.cpp as a process (its backend and log, the GPUs it sees, a model's shape read
without its weights) is ``engine/llama_process.py``.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llama_cpp as L
import numpy as np

from freehold.engine.amx_probe import resolve_repack
from freehold.engine.backend import DecodeError
from freehold.engine.cpu import Repack
from freehold.engine.llama_process import init_backend
from freehold.engine.llama_sampling import Sampling, SlotSampler
from freehold.engine.lora import Adapter, AdapterChoice
from freehold.engine.pooling import pooling_name
from freehold.engine.turns import DecodeTurns
from freehold.engine.types import GenerationRequest, ModelInfo, TokenLogprob, TopLogprob

log = logging.getLogger(__name__)

FLASH_ATTN = {"auto": -1, "off": 0, "on": 1}


@dataclass(frozen=True)
class BackendConfig:
    n_ctx: int
    n_seq: int
    n_batch: int
    threads: int
    threads_batch: int
    n_gpu_layers: int
    flash_attn: str
    # llama.cpp's extra CPU buffer types (weight repacking, AMX): on, off, or auto (see
    # engine/cpu.py; auto never crashes on AMX CPUs).
    repack: Repack = "auto"
    # shared by the models of one server: one decode at a time (see engine/turns.py)
    turns: DecodeTurns | None = field(default=None, compare=False)


class LlamaBackend:
    def __init__(self, path: Path, config: BackendConfig) -> None:
        init_backend()
        mparams = L.llama_model_default_params()
        mparams.n_gpu_layers = config.n_gpu_layers if config.n_gpu_layers >= 0 else 999
        threads = config.threads or os.cpu_count() or 1
        self.repack = resolve_repack(config.repack, path, threads, L.__version__)
        mparams.use_extra_bufts = self.repack.enabled
        self.model = L.llama_model_load_from_file(str(path).encode(), mparams)
        if not self.model:
            raise RuntimeError(f"llama.cpp could not load the model file {path}")
        self.vocab = L.llama_model_get_vocab(self.model)
        self.n_ctx_train = int(L.llama_model_n_ctx_train(self.model))
        n_ctx = config.n_ctx or self.n_ctx_train
        cparams = L.llama_context_default_params()
        cparams.n_ctx = n_ctx
        cparams.n_batch = cparams.n_ubatch = config.n_batch
        cparams.n_seq_max = config.n_seq
        # One KV stream per slot: a sequence then attends over its own cells only, so its
        # output is bit-identical whether it runs alone or beside others (a unified cache
        # changes the attention's reduction order with the other sequences' cells).
        cparams.kv_unified = False
        cparams.n_threads = threads
        cparams.n_threads_batch = config.threads_batch or cparams.n_threads
        cparams.flash_attn_type = FLASH_ATTN[config.flash_attn]
        cparams.no_perf = True
        self.ctx = L.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            raise RuntimeError("llama.cpp could not create a context (out of memory?)")
        self.n_ctx = int(L.llama_n_ctx(self.ctx))
        self.memory = L.llama_get_memory(self.ctx)
        self.batch = L.llama_batch_init(config.n_batch, 0, 1)
        self._embd_batch: L.llama_batch | None = None  # image rows, made on first use
        self.n_batch = config.n_batch
        self.turns = config.turns
        self.n_vocab = int(L.llama_vocab_n_tokens(self.vocab))
        self._pieces: dict[tuple[int, bool], bytes] = {}
        self.adapters: dict[str, Any] = {}
        self.eog_tokens = [t for t in range(self.n_vocab) if L.llama_vocab_is_eog(self.vocab, t)]
        self._eog = frozenset(self.eog_tokens)  # a set lookup, not a ctypes call per token
        # the longest token: a prompt of more bytes than n_ctx times this cannot fit
        self.max_token_bytes = self._longest_piece()
        self.sampling = Sampling(self.ctx, self.vocab, self.n_vocab, self.eog_tokens)

    # -- model facts ------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        buf = ctypes.create_string_buffer(1 << 16)
        n = L.llama_model_meta_val_str(self.model, key.encode(), buf, len(buf))
        if n < 0:
            return None
        if n >= len(buf):
            buf = ctypes.create_string_buffer(n + 1)
            L.llama_model_meta_val_str(self.model, key.encode(), buf, len(buf))
        return buf.value.decode("utf-8", errors="replace")

    def model_info(self, model_id: str, path: Path, n_ctx_slot: int) -> ModelInfo:
        desc = ctypes.create_string_buffer(256)
        L.llama_model_desc(self.model, desc, len(desc))
        quant = desc.value.decode().rsplit(" ", 1)[-1]
        stat = path.stat()
        return ModelInfo(
            id=model_id,
            path=str(path),
            created=int(stat.st_mtime),
            context_length=self.n_ctx_train,
            n_ctx_slot=n_ctx_slot,
            architecture=self.meta("general.architecture") or "",
            quantization=quant,
            n_params=int(L.llama_model_n_params(self.model)),
            n_vocab=self.n_vocab,
            size_bytes=int(L.llama_model_size(self.model)),
            chat_template=self.meta("tokenizer.chat_template"),
            bos_token=self.token_text(L.llama_vocab_bos(self.vocab)),
            eos_token=self.token_text(L.llama_vocab_eos(self.vocab)),
            repack=self.repack.describe(),
            pooling=pooling_name(self.meta(f"{self.meta('general.architecture')}.pooling_type")),
        )

    def token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return L.llama_vocab_get_text(self.vocab, token).decode("utf-8", errors="replace")

    # -- tokens -----------------------------------------------------------------------
    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        data = text.encode("utf-8")
        add = add_special and bool(L.llama_vocab_get_add_bos(self.vocab))
        bos = self.token_text(L.llama_vocab_bos(self.vocab))
        if add and bos and text.startswith(bos):
            add = False  # the template already wrote the BOS token
        cap = len(data) + 8
        tokens = (L.llama_token * cap)()
        n = L.llama_tokenize(self.vocab, data, len(data), tokens, cap, add, True)
        if n < 0:
            tokens = (L.llama_token * -n)()
            n = L.llama_tokenize(self.vocab, data, len(data), tokens, -n, add, True)
        return list(tokens[:n])

    def piece(self, token: int, special: bool = False) -> bytes:
        key = (token, special)
        cached = self._pieces.get(key)
        if cached is None:
            cached = self._pieces[key] = self._raw_piece(token, special)
        return cached

    def _longest_piece(self) -> int:
        buf = ctypes.create_string_buffer(1 << 12)
        return max(
            abs(L.llama_token_to_piece(self.vocab, t, buf, len(buf), 0, True))
            for t in range(self.n_vocab)
        )

    def _raw_piece(self, token: int, special: bool) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = L.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = L.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, special)
        return buf.raw[:n]

    def is_eog(self, token: int) -> bool:
        return token in self._eog

    # -- decoding ---------------------------------------------------------------------
    def decode(self, entries: list[tuple[int, int, int, bool]]) -> None:
        """Decode (token, pos, seq_id, want_logits) entries in one llama_decode call."""
        batch = self.batch
        for i, (token, pos, seq, logits) in enumerate(entries):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = logits
        batch.n_tokens = len(entries)
        turns = self.turns
        with turns.turn() if turns is not None else nullcontext():
            code = L.llama_decode(self.ctx, batch)
        if code != 0:
            raise DecodeError(code)

    def decode_embeddings(self, rows: Sequence[np.ndarray], pos: int, seq: int) -> None:
        """Decode image rows (embeddings, one per image token) at ``pos``.. of ``seq``."""
        if self._embd_batch is None:
            n_embd = int(L.llama_model_n_embd_inp(self.model))
            self._embd_batch = L.llama_batch_init(self.n_batch, n_embd, 1)
        batch = self._embd_batch
        data = np.ascontiguousarray(np.stack(rows), dtype=np.float32)
        ctypes.memmove(batch.embd, data.ctypes.data, data.nbytes)
        for i in range(len(rows)):
            batch.pos[i] = pos + i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = False
        batch.n_tokens = len(rows)
        code = L.llama_decode(self.ctx, batch)
        if code != 0:
            raise DecodeError(code)

    def forget(self, seq: int, from_pos: int = 0) -> None:
        """Free the KV cells of ``seq`` from position ``from_pos`` on."""
        L.llama_memory_seq_rm(self.memory, seq, from_pos, -1)

    def copy_seq(self, src: int, dst: int) -> None:
        """Make ``dst``'s KV cells a copy of all of ``src``'s. Each sequence has a KV
        stream of its own (kv_unified off): llama.cpp then copies the whole stream's
        buffers at the start of the next llama_decode, and only for the full position
        range (hence -1, -1; the caller trims the copy with ``forget``)."""
        L.llama_memory_seq_rm(self.memory, dst, -1, -1)
        L.llama_memory_seq_cp(self.memory, src, dst, -1, -1)

    # -- sampling (llama_sampling.py) -------------------------------------------------
    def make_sampler(self, request: GenerationRequest) -> SlotSampler:
        return self.sampling.make(request)

    def sample(self, sampler: SlotSampler, batch_index: int, constrained: bool = False) -> int:
        return self.sampling.sample(sampler, batch_index, constrained)

    def free_sampler(self, sampler: SlotSampler) -> None:
        self.sampling.free(sampler)

    def token_logprob(self, batch_index: int, token: int, top: int) -> TokenLogprob:
        logprob, best = self.sampling.logprobs(batch_index, token, top)
        return TokenLogprob(
            token,
            self._text(token),
            logprob,
            self.piece(token, True),
            tuple(TopLogprob(self._text(t), lp, self.piece(t, True)) for t, lp in best),
        )

    def _text(self, token: int) -> str:
        return self.piece(token, True).decode("utf-8", errors="replace")

    # -- LoRA adapters ----------------------------------------------------------------
    def load_adapters(self, adapters: tuple[Adapter, ...]) -> None:
        for adapter in adapters:
            handle = L.llama_adapter_lora_init(self.model, str(adapter.path).encode())
            if not handle:
                raise RuntimeError(
                    f"llama.cpp could not load the LoRA adapter {adapter.path} "
                    "(not a GGUF LoRA for this model?)"
                )
            self.adapters[adapter.name] = handle

    def use_adapters(self, choice: AdapterChoice) -> None:
        """Apply exactly these adapters to the context for the next decodes."""
        handles = (L.llama_adapter_lora_p_ctypes * max(1, len(choice)))(
            *[self.adapters[name] for name, _ in choice]
        )
        scales = (ctypes.c_float * max(1, len(choice)))(*[scale for _, scale in choice])
        code = L.llama_set_adapters_lora(self.ctx, handles, len(choice), scales)
        if code != 0:
            raise RuntimeError(f"llama_set_adapters_lora returned {code}")

    def close(self) -> None:
        L.llama_batch_free(self.batch)
        if self._embd_batch is not None:
            L.llama_batch_free(self._embd_batch)
        L.llama_free(self.ctx)
        L.llama_model_free(self.model)
