"""LlamaEngine: the Engine protocol over the scheduler thread, for the asyncio side."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

from freehold.engine.jobs import Job, make_job
from freehold.engine.llama import BackendConfig, LlamaBackend
from freehold.engine.llama_pooling import LlamaPoolingContext, pooling_facts, rank_format
from freehold.engine.llama_vision import VisionProjector
from freehold.engine.lora import Adapter
from freehold.engine.mailbox import Mailbox
from freehold.engine.pooler import Pooler
from freehold.engine.pooling import PoolingWorker
from freehold.engine.scheduler import Scheduler
from freehold.engine.types import Chunk, GenerationRequest, ModelInfo
from freehold.engine.vocab import Vocab
from freehold.errors import FreeholdError

log = logging.getLogger(__name__)


def auto_slots(n_ctx: int, cores: int) -> int:
    """Slots when --parallel is 0: room for 2,048 tokens each, between 1 and 8, at most
    4 per core (batched decoding stops paying off past that on a CPU)."""
    return max(1, min(8, n_ctx // 2048, 4 * max(1, cores)))


class LlamaEngine:
    def __init__(
        self,
        path: Path,
        model_id: str,
        config: BackendConfig,
        max_queue: int,
        backend: Callable[[Path, BackendConfig], LlamaBackend] = LlamaBackend,
        stop_timeout: float = 60.0,
        request_timeout: float = 0.0,
        mmproj: Path | None = None,
        adapters: tuple[Adapter, ...] = (),
    ) -> None:
        """``backend`` builds the llama.cpp backend (tests pass a stand-in);
        ``stop_timeout``: how long ``stop`` waits for the scheduler thread;
        ``request_timeout``: seconds a request may take (0: no limit); ``mmproj``: the
        model's vision projector (images in prompts)."""
        self._request_timeout = request_timeout
        self._mmproj = mmproj
        self._vision: VisionProjector | None = None
        self._path = path
        self._adapters = adapters
        self._model_id = model_id
        self._config = config
        self._max_queue = max_queue
        self._make_backend = backend
        self._stop_timeout = stop_timeout
        self._backend: LlamaBackend | None = None
        self._scheduler: Scheduler | None = None
        self._pooler: Pooler | None = None
        self._info = ModelInfo(id=model_id, path=str(path))
        self._closing = False
        self._mailbox = Mailbox()

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def n_slots(self) -> int:
        return self._config.n_seq

    @property
    def ready(self) -> bool:
        return self._scheduler is not None and not self._closing and self.failure is None

    @property
    def failure(self) -> str | None:
        return self._scheduler.failure if self._scheduler is not None else None

    async def start(self) -> None:
        self._closing = False
        self._backend = await asyncio.to_thread(self._make_backend, self._path, self._config)
        if self._adapters:
            await asyncio.to_thread(self._backend.load_adapters, self._adapters)
        n_slot_ctx = self._backend.n_ctx // self._config.n_seq
        self._info = self._backend.model_info(self._model_id, self._path, n_slot_ctx)
        if self._mmproj is not None:
            threads = self._config.threads_batch or self._config.threads
            model = self._backend.model
            self._vision = await asyncio.to_thread(VisionProjector, self._mmproj, model, threads)
        self._scheduler = Scheduler(
            self._backend, self._config.n_seq, self._max_queue, self._mailbox.flush
        )
        self._scheduler.start()
        log.info(
            "model %s ready: %d slots of %d tokens (context %d)",
            self._model_id,
            self._config.n_seq,
            n_slot_ctx,
            self._backend.n_ctx,
        )

    def _make_pooler(self, backend: LlamaBackend) -> Pooler:
        facts = pooling_facts(backend, self._config.n_batch)
        worker = PoolingWorker(
            lambda: LlamaPoolingContext(backend, facts, self._config), self._model_id
        )
        return Pooler(self._model_id, backend, facts, worker, rank_format(backend))

    async def stop(self) -> None:
        """Stop the scheduler thread (every request it holds is answered), then free
        llama.cpp, never under a thread that still runs."""
        self._closing = True
        stopped = True
        if self._scheduler is not None:
            stopped = await asyncio.to_thread(self._scheduler.stop, self._stop_timeout)
        if self._pooler is not None:
            stopped = await asyncio.to_thread(self._pooler.stop, self._stop_timeout) and stopped
        if self._backend is not None and stopped:
            if self._vision is not None:
                self._vision.close()
            self._backend.close()
        elif not stopped:
            log.error("llama.cpp left allocated: its thread is still running")
        self._backend = self._pooler = None

    def load(self) -> dict[str, int]:
        return self._scheduler.load() if self._scheduler else {}

    def drain(self, seconds: float) -> None:
        if self._scheduler is not None:
            self._scheduler.drain(seconds)

    def _require_backend(self) -> LlamaBackend:
        if self._backend is None or self._closing:
            raise FreeholdError(
                "the model is not loaded yet" if not self._closing else "server shutting down",
                status=503,
                type="server_error",
                code="model_not_ready",
                headers={"Retry-After": "2"},
            )
        return self._backend

    @property
    def vocab(self) -> Vocab:
        return self._require_backend()

    @property
    def pooler(self) -> Pooler:
        """Made on first use: its worker thread and llama.cpp context only then."""
        backend = self._require_backend()
        if self._pooler is None:
            self._pooler = self._make_pooler(backend)
        return self._pooler

    async def _job(self, request: GenerationRequest, out: asyncio.Queue) -> Job:
        """Tokenize off the event loop (a long prompt takes seconds), after refusing by
        byte length a prompt that cannot fit whatever its tokens."""
        backend = self._require_backend()
        size, n_ctx_slot = len(request.prompt.encode()), self._info.n_ctx_slot
        if size > n_ctx_slot * backend.max_token_bytes:
            raise FreeholdError(
                f"this request's prompt of {size} bytes cannot fit the context of a slot "
                f"({n_ctx_slot} tokens); shorten the prompt or raise --ctx-size",
                param="messages",
                code="context_length_exceeded",
            )
        rows: dict[int, Any] = {}
        if request.images:
            prompt, rows = await asyncio.to_thread(self._vision_prompt, request)
        else:
            prompt = await asyncio.to_thread(backend.tokenize, request.prompt)
        loop = asyncio.get_running_loop()
        job = make_job(
            request,
            prompt,
            n_ctx_slot,
            emit=lambda item: self._mailbox.post(loop, out, item),
            server_timeout=self._request_timeout,
        )
        job.images = rows
        return job

    @property
    def vision(self) -> bool:
        return self._mmproj is not None

    def _vision_prompt(self, request: GenerationRequest) -> tuple[list[int], dict[int, Any]]:
        """Text and image tokens, and the image rows (the image encoder runs here)."""
        if self._vision is None:
            raise FreeholdError(
                f"the model '{self._model_id}' does not take images (serve it with its "
                "projector: --mmproj)",
                param="messages",
                code="model_not_vision",
            )
        tokens, rows = self._vision.prompt(request.prompt, request.images)
        if tokens and tokens[-1] < 0:
            raise FreeholdError("a prompt may not end with an image", param="messages")
        return tokens, rows

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]:
        out: asyncio.Queue[Chunk | BaseException] = asyncio.Queue()
        job = await self._job(request, out)
        assert self._scheduler is not None
        self._scheduler.submit(job)
        yield Chunk()  # accepted (maybe queued): the response may start
        try:
            while True:
                item = await out.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.final:
                    return
        finally:
            job.cancelled = True
