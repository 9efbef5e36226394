"""Sampling over llama.cpp (the sampling half of llama.py): a slot's sampler chain, its
grammar, and the log-probabilities of generated tokens.

A grammar is not part of the chain: like llama.cpp's own common sampler, the token is
first sampled freely and checked against the grammar (one candidate, cheap). When the
grammar rejects it, the logits go through the chain's truncation (bias, penalties, top-k
capped at ``CASCADE_TOP_K``), the grammar masks those candidates and the rest of the chain
(top-p, min-p, temperature, the draw) picks among the allowed ones; only when none of
them is allowed does the grammar mask the whole vocabulary (measured at ~120 ms a token
for a JSON schema over SmolLM2's 49,152 tokens on a busy 2-core machine, against ~1 ms
for one candidate: see bench/RESULTS.md). A token the grammar has not allowed is never
accepted into it (llama.cpp aborts on that).
"""

from __future__ import annotations

import ctypes
import math
import random
from dataclasses import dataclass
from typing import Any

import llama_cpp as L
import numpy as np

from freehold.engine.types import GenerationRequest, SamplingParams
from freehold.errors import bad_request

_TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])


CASCADE_TOP_K = 64


@dataclass
class SlotSampler:
    chain: Any
    grammar: Any = None
    truncate: Any = None  # the chain's truncation alone (a grammar's cascade)
    pick: Any = None  # the chain's final choice alone (dist, or greedy)

    def samplers(self) -> list[Any]:
        return [s for s in (self.chain, self.grammar, self.truncate, self.pick) if s]


def make_chain(
    params: SamplingParams, n_vocab: int, eog_tokens: list[int], part: str = "all"
) -> Any:
    """The sampler chain for ``params``: ``all`` of it, or its two halves around a
    grammar: ``truncate`` (bias, penalties, top-k capped at CASCADE_TOP_K) and ``pick``
    (top-p, min-p, temperature, the draw; greedy at temperature 0)."""
    chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
    if part in ("all", "truncate"):
        _add_truncate(chain, params, n_vocab, eog_tokens, cap=part == "truncate")
    if part in ("all", "pick"):
        _add_pick(chain, params)
    return chain


def _add_truncate(
    chain: Any, params: SamplingParams, n_vocab: int, eog_tokens: list[int], cap: bool
) -> None:
    add = L.llama_sampler_chain_add
    bias = dict(params.logit_bias)
    if params.ignore_eos:
        bias.update((t, float("-inf")) for t in eog_tokens)
    if bias:
        biases = (L.llama_logit_bias * len(bias))()
        for i, (tok, bias_value) in enumerate(bias.items()):
            biases[i] = L.llama_logit_bias(token=tok, bias=bias_value)
        add(chain, L.llama_sampler_init_logit_bias(n_vocab, len(biases), biases))
    if params.repeat_penalty != 1.0 or params.frequency_penalty or params.presence_penalty:
        add(
            chain,
            L.llama_sampler_init_penalties(
                n_vocab,  # this llama.cpp's signature starts with n_vocab
                params.repeat_last_n,
                params.repeat_penalty,
                params.frequency_penalty,
                params.presence_penalty,
            ),
        )
    top_k = params.top_k if params.temperature > 0 else 0  # greedy needs no top-k
    if cap:
        top_k = min(top_k, CASCADE_TOP_K) if top_k > 0 else CASCADE_TOP_K
    if top_k > 0:
        add(chain, L.llama_sampler_init_top_k(top_k))


def _add_pick(chain: Any, params: SamplingParams) -> None:
    add = L.llama_sampler_chain_add
    if params.temperature <= 0:
        add(chain, L.llama_sampler_init_greedy())
        return
    add(chain, L.llama_sampler_init_top_p(params.top_p, 1))
    add(chain, L.llama_sampler_init_min_p(params.min_p, 1))
    add(chain, L.llama_sampler_init_temp(params.temperature))
    seed = params.seed if params.seed is not None else random.getrandbits(32)
    add(chain, L.llama_sampler_init_dist(seed & 0xFFFFFFFF))


class Sampling:
    """Per-context scratch space and the sampling steps (scheduler thread only)."""

    def __init__(self, ctx: Any, vocab: Any, n_vocab: int, eog_tokens: list[int]) -> None:
        self.ctx, self.vocab, self.n_vocab = ctx, vocab, n_vocab
        self.eog_tokens = eog_tokens
        self._one = (L.llama_token_data * 1)()
        self._all = (L.llama_token_data * n_vocab)()
        self._all_np = np.frombuffer(memoryview(self._all), dtype=_TOKEN_DATA)
        self._ids = np.arange(n_vocab, dtype=np.int32)

    def make(self, request: GenerationRequest) -> SlotSampler:
        sampler = SlotSampler(make_chain(request.sampling, self.n_vocab, self.eog_tokens))
        if request.grammar is not None:
            grammar = L.llama_sampler_init_grammar(
                self.vocab, request.grammar.gbnf.encode(), b"root"
            )
            if not grammar:
                L.llama_sampler_free(sampler.chain)
                raise bad_request(
                    "llama.cpp could not parse the grammar (GBNF); see the server log",
                    request.grammar.param,
                )
            sampler.grammar = grammar
            params, n, eog = request.sampling, self.n_vocab, self.eog_tokens
            sampler.truncate = make_chain(params, n, eog, "truncate")
            sampler.pick = make_chain(params, n, eog, "pick")
        return sampler

    def free(self, sampler: SlotSampler) -> None:
        for s in sampler.samplers():
            L.llama_sampler_free(s)

    def sample(self, sampler: SlotSampler, index: int, constrained: bool) -> int:
        token = int(L.llama_sampler_sample(sampler.chain, self.ctx, index))
        if not (constrained and sampler.grammar):
            return token
        if not self._allows(sampler.grammar, token):
            token = self._resample(sampler, index)
        if token not in self.eog_tokens or self._allows(sampler.grammar, token):
            L.llama_sampler_accept(sampler.grammar, token)
        return token

    def _allows(self, grammar: Any, token: int) -> bool:
        self._one[0] = L.llama_token_data(id=token, logit=1.0, p=0.0)
        arr = L.llama_token_data_array(data=self._one, size=1, selected=-1, sorted=False)
        L.llama_sampler_apply(grammar, ctypes.byref(arr))
        return bool(np.isfinite(self._one[0].logit))

    def _resample(self, sampler: SlotSampler, index: int) -> int:
        """The grammar rejected the free choice: the cascade (see the module doc)."""
        arr = self._candidates(index)
        L.llama_sampler_apply(sampler.truncate, ctypes.byref(arr))
        self._mask(sampler.grammar, arr)
        if any(math.isfinite(arr.data[i].logit) for i in range(arr.size)):
            L.llama_sampler_apply(sampler.pick, ctypes.byref(arr))
        else:  # none of the likely tokens fits: mask the whole vocabulary
            arr = self._candidates(index)
            self._mask(sampler.grammar, arr)
            L.llama_sampler_apply(sampler.chain, ctypes.byref(arr))
        token = int(arr.data[arr.selected].id) if arr.selected >= 0 else -1
        if token < 0 or not self._allows(sampler.grammar, token):
            # nothing the grammar allows can be sampled (e.g. it is complete but the
            # request bans end-of-generation): end here rather than break the grammar
            return self.eog_tokens[0]
        for s in (sampler.chain, sampler.truncate):
            L.llama_sampler_accept(s, token)
        return token

    @staticmethod
    def _mask(grammar: Any, arr: Any) -> None:
        L.llama_sampler_apply(grammar, ctypes.byref(arr))
        arr.sorted = False  # masked entries break the order the next sampler relies on

    def _candidates(self, index: int) -> Any:
        view = self._all_np
        view["id"] = self._ids
        view["logit"] = self.logits(index)
        view["p"] = 0.0
        return L.llama_token_data_array(
            data=self._all, size=self.n_vocab, selected=-1, sorted=False
        )

    def logits(self, index: int) -> np.ndarray:
        ptr = L.llama_get_logits_ith(self.ctx, index)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    def logprobs(self, index: int, token: int, top: int) -> tuple[float, list[tuple[int, float]]]:
        """``token``'s log-probability under the softmax of the raw logits, and the
        ``top`` most likely tokens with theirs (most likely first)."""
        logits = self.logits(index).astype(np.float64)
        peak = logits.max()
        lse = peak + np.log(np.exp(logits - peak).sum())
        best: list[tuple[int, float]] = []
        if top > 0:
            ids = np.argpartition(-logits, top - 1)[:top]
            ids = ids[np.argsort(-logits[ids], kind="stable")]
            best = [(int(i), float(logits[i] - lse)) for i in ids]
        return float(logits[token] - lse), best
