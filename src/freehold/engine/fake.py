"""FakeEngine: scripted output for API tests, through the real stop/UTF-8 machinery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field

from freehold.engine.output import OutputState
from freehold.engine.reasoning_budget import ThinkBudget
from freehold.engine.textstream import StopMatcher
from freehold.engine.types import Chunk, GenerationRequest, ModelInfo, Usage
from freehold.errors import FreeholdError

Script = list[bytes | str]


def _hello() -> Script:
    return ["Hello", ",", " world", "!"]


def _count_words(text: str, special: bool) -> list[int]:
    return list(range(max(1, len(text.split()))))


@dataclass
class FakeEngine:
    """Each script piece plays the part of one generated token.

    ``script`` is a list of pieces or a function of the request returning one;
    ``eos`` ends the script with an end-of-generation token (finish_reason "stop").
    ``gate``, when given, holds ``start()`` until it is set, so /health can be seen loading.
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
    requests: list[GenerationRequest] = field(default_factory=list)
    cancelled: int = 0
    finished: int = 0
    _ready: bool = False

    @property
    def ready(self) -> bool:
        return self._ready

    async def start(self) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self._ready = True

    async def stop(self) -> None:
        self._ready = False

    def load(self) -> dict[str, int]:
        return {"slots": 1, "busy": 0, "inflight": 0}

    def _count_tokens(self, text: str) -> int:
        return len(text.split())

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]:
        prompt_tokens = self._count_tokens(request.prompt)
        if prompt_tokens >= self.info.n_ctx_slot:
            raise FreeholdError(
                f"this request has {prompt_tokens} prompt tokens but the context of a slot "
                f"is {self.info.n_ctx_slot} tokens",
                param="messages",
                code="context_length_exceeded",
            )
        self.requests.append(request)
        script = self.script(request) if callable(self.script) else self.script
        pieces: list[bytes | str | None] = [*script, None] if self.eos else list(script)
        room = self.info.n_ctx_slot - prompt_tokens
        out = OutputState(min(request.max_tokens or room, room), StopMatcher(request.stop))
        think = ThinkBudget.for_request(request, out.max_tokens, _count_words)
        usage = Usage(prompt_tokens=prompt_tokens)
        forced: list[str] = []
        done = False
        try:
            while forced or pieces:
                piece = forced.pop(0) if forced else pieces.pop(0)
                data = piece.encode() if isinstance(piece, str) else (piece or b"")
                step = out.on_token(data, eog=piece is None)
                usage.completion_tokens = out.generated
                if think is not None and piece is not None:
                    inject = think.tracker.feed(step.text)
                    forced += [inject] if inject else []
                    usage.reasoning_tokens = think.reasoning_tokens
                await asyncio.sleep(0)
                if step.finish is not None:
                    done = True
                    yield Chunk(step.text, step.finish, usage)
                    return
                if step.text:
                    yield Chunk(step.text)
            done = True
            yield Chunk(out.stops.finish(), "length", usage)
        finally:
            self.finished += done
            self.cancelled += not done
