"""The pooling context: a second llama.cpp context on a loaded model, for embeddings and
rerank scores (see engine/pooling.py for why it is a second context on its own thread).

With llama.py, the only modules importing llama_cpp. ``LlamaPoolingContext`` is used by
its PoolingWorker's thread alone.
"""

from __future__ import annotations

import ctypes
import os

import llama_cpp as L

from freehold.engine.llama import BackendConfig, LlamaBackend
from freehold.engine.pooler import RankFormat
from freehold.engine.pooling import POOLING_NAMES, PoolingFacts, pooling_name

POOLING_TYPES = {name: value for value, name in POOLING_NAMES.items()}
POOLING_SEQS = 16


def pooling_facts(backend: LlamaBackend, n_batch: int) -> PoolingFacts:
    """The model's pooling from its GGUF (``{arch}.pooling_type``); generative models
    declare none (or ``none``, per-token output), and are pooled by mean.

    An input must fit one micro-batch (a non-causal encoder sees a whole input at once,
    and llama.cpp pools per micro-batch), so ``--batch-size`` bounds an input's tokens,
    as llama-server's ``--ubatch-size`` does; the context is that size too."""
    arch = backend.meta("general.architecture") or ""
    name = pooling_name(backend.meta(f"{arch}.pooling_type"))
    n_out = (
        int(L.llama_model_n_cls_out(backend.model))
        if name == "rank"
        else int(L.llama_model_n_embd_out(backend.model))
    )
    return PoolingFacts(
        pooling=name or "mean",
        declared=name is not None,
        n_embd=n_out,
        max_tokens=min(backend.n_ctx_train or n_batch, n_batch),
    )


def rank_format(backend: LlamaBackend) -> RankFormat:
    vocab = backend.vocab
    return RankFormat(
        bos=int(L.llama_vocab_bos(vocab)),
        eos=int(L.llama_vocab_eos(vocab)),
        sep=int(L.llama_vocab_sep(vocab)),
        template=backend.meta("tokenizer.chat_template.rerank"),
    )


class LlamaPoolingContext:
    """A context with ``embeddings`` on and the model's pooling; one sequence per input,
    cleared after every batch (pooling keeps no cache between requests)."""

    def __init__(self, backend: LlamaBackend, facts: PoolingFacts, config: BackendConfig) -> None:
        self.n_batch = facts.max_tokens
        self.n_seq = POOLING_SEQS
        self._n_out = facts.n_embd
        cparams = L.llama_context_default_params()
        cparams.embeddings = True
        cparams.pooling_type = POOLING_TYPES[facts.pooling]
        cparams.n_ctx = cparams.n_batch = cparams.n_ubatch = self.n_batch
        cparams.n_seq_max = self.n_seq
        cparams.kv_unified = True  # all inputs of a batch share the cells: any mix fits
        # Flash attention over a shared cache folds the other inputs' (masked) cells into
        # its running sums, so an input's vector would shift (~1e-3) with its batch
        # neighbours; without it, each output is the same alone or batched.
        cparams.flash_attn_type = L.LLAMA_FLASH_ATTN_TYPE_DISABLED
        cparams.n_threads = config.threads_batch or config.threads or os.cpu_count() or 1
        cparams.n_threads_batch = cparams.n_threads
        cparams.no_perf = True
        self.ctx = L.llama_init_from_model(backend.model, cparams)
        if not self.ctx:
            raise RuntimeError("llama.cpp could not create the pooling context (out of memory?)")
        self.memory = L.llama_get_memory(self.ctx)  # None for encoder-only models (BERT)
        self.batch = L.llama_batch_init(self.n_batch, 0, 1)

    def run(self, inputs: list[list[int]]) -> list[list[float]]:
        batch = self.batch
        i = 0
        for seq, tokens in enumerate(inputs):
            for pos, token in enumerate(tokens):
                batch.token[i] = token
                batch.pos[i] = pos
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = seq
                batch.logits[i] = True
                i += 1
        batch.n_tokens = i
        if self.memory:
            L.llama_memory_clear(self.memory, True)
        code = L.llama_decode(self.ctx, batch)
        if code != 0:
            raise RuntimeError(f"llama_decode returned {code} for a pooling batch")
        return [self._pooled(seq) for seq in range(len(inputs))]

    def _pooled(self, seq: int) -> list[float]:
        ptr = L.llama_get_embeddings_seq(self.ctx, seq)
        if not ptr:
            raise RuntimeError(f"llama.cpp returned no pooled output for sequence {seq}")
        values = ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float))
        return [float(values[k]) for k in range(self._n_out)]

    def close(self) -> None:
        L.llama_batch_free(self.batch)
        L.llama_free(self.ctx)
