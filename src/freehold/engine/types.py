"""The engine's vocabulary: requests in, chunks out, and the protocol every engine meets."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from freehold.engine.vision import ImageInput

if TYPE_CHECKING:
    from freehold.engine.pooler import Pooler
    from freehold.engine.vocab import Vocab

FinishReason = Literal["stop", "length", "tool_calls"]
PartKind = Literal[
    "content",
    "reasoning",
    "tool_call",
    "tool_call_start",
    "tool_args",
    "tool_call_end",
    "tool_call_drop",
]


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repeat_penalty: float = 1.0
    repeat_last_n: int = 64
    logit_bias: dict[int, float] = field(default_factory=dict)
    ignore_eos: bool = False


@dataclass(frozen=True)
class ReasoningPlan:
    """How the engine treats a think block in this request's output.

    ``starts_inside``: the rendered prompt already opened the block, so the output begins
    in thinking. ``budget``: thinking tokens allowed before the engine injects ``end``
    itself (None: unlimited). ``reserve``: answer tokens kept free of thinking inside
    ``max_tokens``.
    """

    start: str
    end: str
    starts_inside: bool = False
    budget: int | None = None
    reserve: int = 0
    # False: thinking was turned off in the prompt; a stray block is still split off
    # (and never counted against a budget).
    thinking: bool = True


@dataclass(frozen=True)
class Grammar:
    """Constrained decoding: the output must match ``gbnf`` (llama.cpp GBNF, rule ``root``).

    It applies from the first token outside a think block. ``lazy``: the output stays free
    until the slot's tool parser has read a call's opening marker (at a token boundary);
    the grammar then describes what follows that marker. ``param``: the request field it
    came from, named in the 400 when llama.cpp cannot parse it.
    """

    gbnf: str
    lazy: bool = False
    param: str = "grammar"


@dataclass(frozen=True)
class GenerationRequest:
    """One dialect-neutral generation: every API dialect translates into this.

    ``tool_format``: parse tool calls out of the answer in this family's syntax (a key of
    ``chat.tools.formats.FORMATS``; None: no tools, the answer is all content).
    ``logprobs``: None, or the number of most likely alternatives (0-20) to report with
    each generated token's log-probability. ``n``: choices generated from one prompt
    evaluation (chunks carry their choice ``index``).
    """

    prompt: str
    max_tokens: int | None = None
    sampling: SamplingParams = field(default_factory=SamplingParams)
    stop: tuple[str, ...] = ()
    reasoning: ReasoningPlan | None = None
    # Render special (control) tokens as text: a reasoning model's markers may be such
    # tokens (gpt-oss channels, some <think>), and the splitter must see them.
    special: bool = False
    request_id: str = ""
    # seconds this request may generate, counted from its admission to a slot (None: only
    # the server's --request-timeout, counted from its arrival, applies)
    timeout: float | None = None
    # decoded images, one per MEDIA_MARKER in ``prompt`` (engine/vision.py)
    images: tuple[ImageInput, ...] = ()
    # LoRA adapters applied to this request: sorted (name, scale) pairs; () = the base model
    adapters: tuple[tuple[str, float], ...] = ()
    tool_format: str | None = None
    grammar: Grammar | None = None
    logprobs: int | None = None
    n: int = 1


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class TopLogprob:
    token: str
    logprob: float
    bytes: bytes


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token with its log-probability under the model's distribution (the
    softmax of its logits, before sampling) and the ``top`` most likely alternatives."""

    id: int
    token: str
    logprob: float
    bytes: bytes
    top: tuple[TopLogprob, ...] = ()


@dataclass(frozen=True)
class ToolCall:
    """One tool call: ``arguments`` is a JSON object as text. ``index`` counts the calls
    of one choice from 0. In a streamed call's parts, ``arguments`` is what that part
    carries: "" (start), a fragment (args), the whole text (end)."""

    index: int
    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Part:
    """A typed piece of one choice's output.

    ``content`` and ``reasoning`` carry ``text``; ``tool_call`` carries a whole ``call``.
    A call streamed as generated comes as ``tool_call_start`` (id, name), ``tool_args``
    (argument fragments: they add up to the final text) and ``tool_call_end`` (the whole
    arguments again), or ``tool_call_drop`` (the call's text was no call after all: it
    follows as content or whole calls; the fold forgets the dropped call).
    ``tokens``/``logprobs``: the generated tokens behind this part (tokens whose text was
    held back, e.g. a partial marker, go with the next part emitted; ``logprobs`` only
    when the request asked for them).
    """

    kind: PartKind
    text: str = ""
    call: ToolCall | None = None
    tokens: tuple[int, ...] = ()
    logprobs: tuple[TokenLogprob, ...] = ()


@dataclass
class Chunk:
    """What one engine step produced for one choice (``index``).

    A choice's last chunk has its ``finish_reason``; the stream's very last chunk (after
    every choice finished) also carries the ``usage`` of the whole request.
    """

    parts: list[Part] = field(default_factory=list)
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    index: int = 0
    stop_sequence: str | None = None  # the stop string that finished this choice

    @property
    def final(self) -> bool:
        """The stream ends with this chunk."""
        return self.usage is not None

    @property
    def text(self) -> str:
        """The content text of this chunk (reasoning and tool calls left out)."""
        return "".join(p.text for p in self.parts if p.kind == "content")


@dataclass(frozen=True)
class ModelInfo:
    id: str
    path: str = ""
    created: int = 0
    owned_by: str = "freehold"
    context_length: int = 0
    n_ctx_slot: int = 0
    architecture: str = ""
    quantization: str = ""
    n_params: int = 0
    n_vocab: int = 0  # 0: unknown
    size_bytes: int = 0
    chat_template: str | None = None
    bos_token: str = ""
    eos_token: str = ""
    aliases: tuple[str, ...] = ()
    repack: str = ""  # the weight-repack choice and its reason (engine/cpu.py)
    # the pooling its GGUF declares (mean, cls, last, rank): an embedding model or a
    # reranker, which does not generate; None for generative models
    pooling: str | None = None


class Engine(Protocol):
    """What api/ needs of an engine. ``generate`` raises FreeholdError before its first
    chunk for a request it cannot serve (prompt too long, queue full); its first chunk is
    empty (no parts): the request was accepted and may wait for a slot, so a stream's
    headers can go out at once."""

    @property
    def info(self) -> ModelInfo: ...

    @property
    def ready(self) -> bool: ...

    @property
    def failure(self) -> str | None:
        """Why this engine can serve no more (its scheduler thread died), else None."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def load(self) -> dict[str, int]:
        """Slot occupancy: slots, busy, inflight (running + waiting)."""
        ...

    def drain(self, seconds: float) -> None:
        """Shutdown has begun: every request ends within ``seconds`` (running ones with
        finish_reason "length", waiting ones with a 503)."""
        ...

    def generate(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]: ...

    @property
    def vocab(self) -> Vocab:
        """The tokenizer (503 while the model loads)."""
        ...

    @property
    def pooler(self) -> Pooler:
        """Embeddings and rerank scores (503 while the model loads)."""
        ...

    @property
    def vision(self) -> bool:
        """Whether the model takes images (it has a projector, --mmproj)."""
        ...
