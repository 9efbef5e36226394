"""A llama.cpp stand-in for the real Scheduler and LlamaEngine in fast tests.

Bytes are tokens (token = byte + 1; 0 ends generation). The KV cache is a token list per
sequence: ``decode`` checks every position against it, so a scheduler that reuses the
wrong prefix or forgets to free cells fails loudly, and all sequences share ``cells``
cells, so a full cache can be provoked. Samplers replay ``reply`` (cyclically when the
request ignores EOS). ``fail_at`` makes a method raise on the calls numbered in its set
(``ALWAYS``: every call); ``hold_decode`` blocks ``decode`` until set.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Container
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from freehold.api import create_app
from freehold.config import Settings
from freehold.engine.backend import DecodeError
from freehold.engine.engine import LlamaEngine
from freehold.engine.llama import BackendConfig
from freehold.engine.types import GenerationRequest, ModelInfo, TokenLogprob

EOG = 0
ALWAYS = range(1, 1 << 30)


class InjectedFault(RuntimeError):
    pass


@dataclass(eq=False)
class FakeSampler:
    reply: list[int]
    cycle: bool
    at: int = 0

    def next(self) -> int:
        if self.at >= len(self.reply):
            if not self.cycle:
                return EOG
            self.at = 0
        self.at += 1
        return self.reply[self.at - 1]


@dataclass(eq=False)
class FakeLlama:
    reply: bytes = b"hello world"
    n_ctx: int = 1024
    n_batch: int = 32
    max_token_bytes: int = 1
    cells: int | None = None
    fail_at: dict[str, Container[int]] = field(default_factory=dict)
    hold_decode: threading.Event | None = None
    kv: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    calls: Counter[str] = field(default_factory=Counter)
    decoded_tokens: int = 0
    samplers: set[FakeSampler] = field(default_factory=set)
    decoding: bool = False
    decode_entered: threading.Event = field(default_factory=threading.Event)
    closed_while_decoding: bool | None = None
    tokenize_gate: threading.Event | None = None
    tokenizing: threading.Event = field(default_factory=threading.Event)
    tokenized: int = 0
    _logits: list[int] = field(default_factory=list)  # batch index → seq (-1: none)

    @classmethod
    def factory(cls, **kw: object):  # type: ignore[no-untyped-def]
        """A ``backend`` argument for LlamaEngine that builds (and keeps) one fake."""
        made: list[FakeLlama] = []

        def build(path: Path, config: BackendConfig) -> FakeLlama:
            made.append(cls(n_ctx=config.n_ctx, n_batch=config.n_batch, **kw))  # type: ignore[arg-type]
            return made[-1]

        build.made = made  # type: ignore[attr-defined]
        return build

    def _call(self, name: str) -> None:
        self.calls[name] += 1
        if self.calls[name] in self.fail_at.get(name, ()):
            raise InjectedFault(f"{name} call {self.calls[name]}")

    # -- what the scheduler and engine use ------------------------------------------
    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        self._call("tokenize")
        if self.tokenize_gate is not None:
            self.tokenizing.set()
            self.tokenize_gate.wait(5)
            self.tokenized += 1
        return [b + 1 for b in text.encode()]

    def piece(self, token: int, special: bool = False) -> bytes:
        return b"" if token == EOG else bytes([token - 1])

    def is_eog(self, token: int) -> bool:
        return token == EOG

    def decode(self, entries: list[tuple[int, int, int, bool]]) -> None:
        self._call("decode")
        used = sum(len(v) for v in self.kv.values())
        if self.cells is not None and used + len(entries) > self.cells:
            raise DecodeError(1)
        if self.hold_decode is not None:
            self.decoding = True
            self.decode_entered.set()
            self.hold_decode.wait(10)
            self.decoding = False
        ends = {seq: len(self.kv[seq]) for _, _, seq, _ in entries}
        for _, pos, seq, _ in entries:
            if pos != ends[seq]:
                raise AssertionError(f"seq {seq}: position {pos}, KV holds {ends[seq]}")
            ends[seq] += 1
        for tok, _, seq, _ in entries:
            self.kv[seq].append(tok)
        self.decoded_tokens += len(entries)
        self._logits = [seq if want else -1 for _, _, seq, want in entries]

    def forget(self, seq: int, from_pos: int = 0) -> None:
        self._call("forget")
        del self.kv[seq][from_pos:]

    def copy_seq(self, src: int, dst: int) -> None:
        self._call("copy_seq")
        self.kv[dst] = list(self.kv[src])

    def make_sampler(self, request: GenerationRequest) -> FakeSampler:
        self._call("make_sampler")
        sampler = FakeSampler([b + 1 for b in self.reply], cycle=request.sampling.ignore_eos)
        self.samplers.add(sampler)
        return sampler

    def sample(self, sampler: FakeSampler, index: int, constrained: bool = False) -> int:
        self._call("sample")
        assert self._logits[index] >= 0, f"no logits at batch index {index}"
        return sampler.next()

    def token_logprob(self, index: int, token: int, top: int) -> TokenLogprob:
        text = self.piece(token).decode(errors="replace")
        return TokenLogprob(token, text, -1.0, self.piece(token))

    def free_sampler(self, sampler: FakeSampler) -> None:
        self._call("free_sampler")
        self.samplers.remove(sampler)

    def close(self) -> None:
        self.closed_while_decoding = self.decoding

    def model_info(self, model_id: str, path: Path, n_ctx_slot: int) -> ModelInfo:
        return ModelInfo(
            id=model_id, path=str(path), context_length=self.n_ctx, n_ctx_slot=n_ctx_slot
        )


@dataclass
class Served:
    client: httpx.AsyncClient
    engine: LlamaEngine
    backend: FakeLlama
    app: Any


@asynccontextmanager
async def serve_engine(
    slots: int = 1, stop_timeout: float = 10.0, max_queue: int = 8, **backend: Any
) -> AsyncIterator[Served]:
    """An in-process app over a LlamaEngine whose llama.cpp is a FakeLlama (1,024 tokens
    per slot)."""
    config = BackendConfig(
        n_ctx=1024 * slots,
        n_seq=slots,
        n_batch=64,
        threads=1,
        threads_batch=1,
        n_gpu_layers=0,
        flash_attn="auto",
    )
    build = FakeLlama.factory(**backend)
    engine = LlamaEngine(Path("fake.gguf"), "fake", config, max_queue, build, stop_timeout)
    app = create_app(Settings(), engine)
    async with app.router.lifespan_context(app):
        for _ in range(1000):  # the lifespan starts the engine in a task (a thread hop)
            if engine.ready:
                break
            await asyncio.sleep(0.01)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Served(client, engine, build.made[0], app)
