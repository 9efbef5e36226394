"""FakeEngine: scripted output for API tests, through the scheduler's own token step.

A ``FakeBackend`` stands in for llama.cpp under the real ``Scheduler``: each script piece
is one "token" of a vocabulary built as pieces appear, and sampling replays the script.
So stop strings, UTF-8, limits, the reasoning budget, the output parser and every
scheduler rule run exactly as in production; the engine ticks the scheduler on the event
loop instead of a thread, so tests stay deterministic.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from freehold.engine.fake_pooling import FAKE_RANK_FORMAT, FakePoolingContext, FakeVocab
from freehold.engine.jobs import make_job
from freehold.engine.pooler import Pooler
from freehold.engine.pooling import PoolingFacts, PoolingWorker
from freehold.engine.scheduler import Scheduler
from freehold.engine.types import (
    Chunk,
    GenerationRequest,
    ModelInfo,
    TokenLogprob,
    TopLogprob,
)

Script = list[bytes | str]
EOS = 0
_WORDS = re.compile(r"\s*\S+|\s+")


def _hello() -> Script:
    return ["Hello", ",", " world", "!"]


class FakeBackend:
    """A scripted model: words are tokens; each slot's sampler replays its script."""

    n_batch = 512
    n_ctx = 1 << 30  # its KV cache never fills up

    def __init__(self, script_for: Callable[[GenerationRequest], Script], eos: bool) -> None:
        self._script_for = script_for
        self._eos = eos
        self._pieces: list[bytes] = [b""]  # token 0 is the end-of-generation token
        self._ids: dict[bytes, int] = {}
        self.decoded: list[list[tuple[int, int, int, bool]]] = []
        self.adapters: tuple[tuple[str, float], ...] = ()
        self.decoded_adapters: list[tuple[tuple[str, float], ...]] = []
        self.copies: list[tuple[int, int]] = []

    def _id(self, piece: bytes) -> int:
        if piece not in self._ids:
            self._ids[piece] = len(self._pieces)
            self._pieces.append(piece)
        return self._ids[piece]

    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        return [self._id(word.encode()) for word in _WORDS.findall(text)]

    def piece(self, token: int, special: bool = False) -> bytes:
        return self._pieces[token]

    def is_eog(self, token: int) -> bool:
        return token == EOS

    def decode(self, entries: list[tuple[int, int, int, bool]]) -> None:
        self.decoded.append(entries)
        self.decoded_adapters.append(self.adapters)

    def use_adapters(self, choice: tuple[tuple[str, float], ...]) -> None:
        self.adapters = choice

    def decode_embeddings(self, rows: Sequence[Any], pos: int, seq: int) -> None:
        self.decoded.append([(-1, pos + i, seq, False) for i in range(len(rows))])

    def forget(self, seq: int, from_pos: int = 0) -> None:
        pass

    def copy_seq(self, src: int, dst: int) -> None:
        self.copies.append((src, dst))

    def make_sampler(self, request: GenerationRequest) -> Iterator[int]:
        pieces = self._script_for(request)
        tokens = [self._id(p.encode() if isinstance(p, str) else p) for p in pieces]
        return iter([*tokens, EOS] if self._eos else tokens)

    def sample(self, sampler: Iterator[int], batch_index: int, constrained: bool = False) -> int:
        # past the end of a script without EOS the model "says nothing" until max_tokens
        return next(sampler, self._id(b""))

    def free_sampler(self, sampler: Iterator[int]) -> None:
        pass

    def token_logprob(self, batch_index: int, token: int, top: int) -> TokenLogprob:
        """The script's token is always the likeliest (-0.25); "~" follows (-2.5), then
        "~~", "~~~" ... one nat apart."""
        piece = self.piece(token)
        text = piece.decode("utf-8", errors="replace")
        alts = [TopLogprob(text, -0.25, piece)]
        alts += [TopLogprob("~" * i, -1.5 - i, b"~" * i) for i in range(1, top)]
        return TokenLogprob(token, text, -0.25, piece, tuple(alts[:top]))


@dataclass
class FakeEngine:
    """Each script piece plays the part of one generated token.

    ``script`` is a list of pieces or a function of the request returning one;
    ``eos`` ends the script with an end-of-generation token (finish_reason "stop"; without
    it the request runs into its token limit). ``gate``, when given, holds ``start()``
    until it is set, so /health can be seen loading. ``slots`` and ``max_queue`` size the
    scheduler as ``--parallel`` and ``--max-queue`` do; ``request_timeout`` is
    ``--request-timeout``; ``delay``: seconds between scheduler steps (a slower model).
    ``facts`` and ``pool_context`` script pooling (embeddings, or rerank with "rank") over
    ``vocab``, a byte tokenizer of its own (the /tokenize endpoints' fake).
    """

    script: Script | Callable[[GenerationRequest], Script] = field(default_factory=lambda: _hello())
    info: ModelInfo = field(
        default_factory=lambda: ModelInfo(
            id="fake-model",
            context_length=2048,
            n_ctx_slot=256,
            architecture="fake",
            quantization="F16",
            chat_template=None,
            aliases=("fake-alias",),
        )
    )
    eos: bool = True
    gate: asyncio.Event | None = None
    slots: int = 1
    max_queue: int = 16
    request_timeout: float = 0.0
    delay: float = 0.0
    requests: list[GenerationRequest] = field(default_factory=list)
    facts: PoolingFacts = field(default_factory=lambda: PoolingFacts("mean", False, 8, 64))
    pool_context: FakePoolingContext = field(default_factory=FakePoolingContext)
    vocab: FakeVocab = field(default_factory=FakeVocab)
    vision: bool = False
    _ready: bool = False
    _pooler: Pooler | None = None

    def __post_init__(self) -> None:
        if self.facts.declared:  # an embedding model or a reranker, as its GGUF would say
            self.info = replace(self.info, pooling=self.facts.pooling)
        self.backend = FakeBackend(self._script_of, self.eos)
        self.scheduler = Scheduler(self.backend, self.slots, self.max_queue)

    def _script_of(self, request: GenerationRequest) -> Script:
        return self.script(request) if callable(self.script) else list(self.script)

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def failure(self) -> str | None:
        return self.scheduler.failure

    async def start(self) -> None:
        if self.gate is not None:
            await self.gate.wait()
        worker = PoolingWorker(lambda: self.pool_context, self.info.id)
        self._pooler = Pooler(self.info.id, self.vocab, self.facts, worker, FAKE_RANK_FORMAT)
        self._ready = True

    async def stop(self) -> None:
        self._ready = False
        if self._pooler is not None:
            await asyncio.to_thread(self._pooler.stop)

    @property
    def pooler(self) -> Pooler:
        assert self._pooler is not None, "the fake engine is not started"
        return self._pooler

    def load(self) -> dict[str, int]:
        return self.scheduler.load()

    def drain(self, seconds: float) -> None:
        self.scheduler.drain(seconds)

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]:
        out: asyncio.Queue[Chunk | BaseException] = asyncio.Queue()
        prompt = self.backend.tokenize(request.prompt)
        job = make_job(request, prompt, self.info.n_ctx_slot, out.put_nowait, self.request_timeout)
        self.scheduler.submit(job)
        self.requests.append(request)
        yield Chunk()  # accepted, as LlamaEngine says it
        try:
            while True:
                self.scheduler.tick(block=False)
                while not out.empty():
                    item = out.get_nowait()
                    if isinstance(item, BaseException):
                        raise item
                    yield item
                    if item.final:
                        return
                await asyncio.sleep(self.delay)
        finally:
            job.cancelled = True
            self.scheduler.tick(block=False)  # let the scheduler drop it now
