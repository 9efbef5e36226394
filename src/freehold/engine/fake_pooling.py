"""The fake engine's tokenizer and pooling context: byte tokens and countable vectors, run
through the real PoolingWorker and Pooler so API tests exercise batching and checks."""

from __future__ import annotations

from dataclasses import dataclass, field

from freehold.engine.pooler import RankFormat

BOS, EOS, SEP = 0, 1, 2
SPECIALS = {BOS: b"<s>", EOS: b"</s>", SEP: b"<sep>"}
OFFSET = 3  # byte b is token b + 3


class FakeVocab:
    """One token per UTF-8 byte, after three special tokens."""

    n_vocab = 256 + OFFSET

    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        tokens = [b + OFFSET for b in text.encode("utf-8")]
        return [BOS, *tokens] if add_special else tokens

    def piece(self, token: int, special: bool = False) -> bytes:
        if token in SPECIALS:
            return SPECIALS[token] if special else b""
        return bytes([token - OFFSET])


FAKE_RANK_FORMAT = RankFormat(bos=BOS, eos=EOS, sep=SEP)


@dataclass
class FakePoolingContext:
    """Embeddings: counts of token ids by residue (``dims`` of them); rank scores: the
    share of the document's distinct tokens that the query also has. ``batches`` records
    how many inputs each decode carried."""

    n_batch: int = 64
    n_seq: int = 4
    dims: int = 8
    batches: list[int] = field(default_factory=list)
    closed: bool = False

    def run(self, inputs: list[list[int]]) -> list[list[float]]:
        assert sum(map(len, inputs)) <= self.n_batch or len(inputs) == 1
        assert len(inputs) <= self.n_seq
        self.batches.append(len(inputs))
        return [self._one(tokens) for tokens in inputs]

    def _one(self, tokens: list[int]) -> list[float]:
        if SEP in tokens:
            cut = tokens.index(SEP)
            query, doc = set(tokens[1:cut]) - {EOS}, set(tokens[cut + 1 :]) - {EOS}
            return [len(query & doc) / max(1, len(doc))]
        vector = [0.0] * self.dims
        for token in tokens:
            vector[token % self.dims] += 1.0
        return vector

    def close(self) -> None:
        self.closed = True
