"""Pooler: embeddings and rerank scores of one model, over its PoolingWorker.

Inputs are tokenized off the event loop, checked (empty, too long, unknown ids: 400), then
pooled by the worker; embeddings come back L2-normalized, rerank scores as the
classification head's raw output (as llama-server returns them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from freehold.engine.pooling import PoolingFacts, PoolingWorker, l2_normalize
from freehold.engine.vocab import Vocab, check_token_ids
from freehold.errors import bad_request


@dataclass(frozen=True)
class RankFormat:
    """How a (query, document) pair becomes one sequence: the GGUF's rerank template
    (``tokenizer.chat_template.rerank``, with ``{query}`` and ``{document}``) when it has
    one, else ``[BOS] query [EOS] [SEP] document [EOS]`` as llama-server builds it (a
    special token the model lacks, id -1, is left out)."""

    bos: int = -1
    eos: int = -1
    sep: int = -1
    template: str | None = None

    def tokens(self, vocab: Vocab, query: str, document: str) -> list[int]:
        if self.template is not None:
            text = self.template.replace("{query}", query).replace("{document}", document)
            return vocab.tokenize(text, True)
        q = vocab.tokenize(query, False)
        d = vocab.tokenize(document, False)
        parts = [[self.bos], q, [self.eos, self.sep], d, [self.eos]]
        return [t for part in parts for t in part if t >= 0]


@dataclass(frozen=True)
class Pooled:
    """One output per input (a unit vector, or a one-element score) and the tokens read."""

    outputs: list[list[float]]
    prompt_tokens: int


class Pooler:
    def __init__(
        self,
        model_id: str,
        vocab: Vocab,
        facts: PoolingFacts,
        worker: PoolingWorker,
        rank_format: RankFormat,
    ) -> None:
        self.model_id = model_id
        self.vocab = vocab
        self.facts = facts
        self._worker = worker
        self._rank = rank_format

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the worker thread; True when it has ended."""
        return self._worker.stop(timeout)

    def require_embeddings(self) -> None:
        if self.facts.reranker:
            raise bad_request(
                f"the model '{self.model_id}' is a reranker (rank pooling): it has no "
                "embeddings; use POST /v1/rerank",
                param="model",
                code="model_not_embedding",
            )

    def require_reranker(self) -> None:
        if not self.facts.reranker:
            raise bad_request(
                f"the model '{self.model_id}' is not a reranker: its GGUF declares "
                f"'{self.facts.pooling}' pooling, not 'rank' (a classification head)"
                if self.facts.declared
                else f"the model '{self.model_id}' is not a reranker: its GGUF declares no "
                "rank pooling (a classification head)",
                param="model",
                code="model_not_reranker",
            )

    async def embed(self, inputs: Sequence[str | list[int]]) -> Pooled:
        self.require_embeddings()
        tokens = await asyncio.to_thread(self._embedding_tokens, inputs)
        vectors = await self._worker.run(tokens)
        return Pooled([l2_normalize(v) for v in vectors], sum(map(len, tokens)))

    async def rerank(self, query: str, documents: list[str]) -> Pooled:
        self.require_reranker()
        tokens = await asyncio.to_thread(self._rank_tokens, query, documents)
        scores = await self._worker.run(tokens)
        return Pooled([s[:1] for s in scores], sum(map(len, tokens)))

    def _embedding_tokens(self, inputs: Sequence[str | list[int]]) -> list[list[int]]:
        tokens: list[list[int]] = []
        for i, item in enumerate(inputs):
            param = f"input[{i}]" if len(inputs) > 1 else "input"
            if item == "":
                raise bad_request(f"{param} is an empty string: there is nothing to embed", param)
            if isinstance(item, str):
                toks = self.vocab.tokenize(item, True)
            else:
                toks = list(item)
                check_token_ids(toks, self.vocab.n_vocab, param)
            self._check_length(toks, param, "input")
            tokens.append(toks)
        return tokens

    def _rank_tokens(self, query: str, documents: list[str]) -> list[list[int]]:
        tokens = [self._rank.tokens(self.vocab, query, d) for d in documents]
        for i, toks in enumerate(tokens):
            self._check_length(toks, f"documents[{i}]", "query with this document")
        return tokens

    def _check_length(self, tokens: list[int], param: str, what: str) -> None:
        if not tokens:
            raise bad_request(f"{param} is empty: there is nothing to embed", param=param)
        if len(tokens) > self.facts.max_tokens:
            raise bad_request(
                f"the {what} at {param} has {len(tokens)} tokens; this server pools at most "
                f"{self.facts.max_tokens} tokens per input (its --batch-size)",
                param=param,
                code="context_length_exceeded",
            )
