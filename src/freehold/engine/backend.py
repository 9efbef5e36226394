"""What the scheduler needs of a model backend: tokens, one batched decode, samplers.

``LlamaBackend`` (llama.cpp) and ``FakeBackend`` (scripted, for tests) implement it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from freehold.engine.types import GenerationRequest, TokenLogprob


class DecodeError(RuntimeError):
    """llama_decode failed; ``no_space`` when the KV cache had no room for the batch."""

    def __init__(self, code: int) -> None:
        super().__init__(f"llama_decode returned {code}")
        self.no_space = code == 1


class Backend(Protocol):
    n_batch: int
    n_ctx: int  # KV cells of all sequences together

    def tokenize(self, text: str, add_special: bool = True) -> list[int]: ...

    def piece(self, token: int, special: bool = False) -> bytes: ...

    def is_eog(self, token: int) -> bool: ...

    def decode(self, entries: list[tuple[int, int, int, bool]]) -> None:
        """Decode (token, pos, seq_id, want_logits) entries in one step; DecodeError."""
        ...

    def decode_embeddings(self, rows: Sequence[Any], pos: int, seq: int) -> None:
        """Decode image rows (one embedding each) at ``pos``.. of ``seq``; DecodeError."""
        ...

    def forget(self, seq: int, from_pos: int = 0) -> None: ...

    def use_adapters(self, choice: tuple[tuple[str, float], ...]) -> None:
        """Apply exactly these LoRA adapters (name, scale) to the next decodes."""
        ...

    def copy_seq(self, src: int, dst: int) -> None:
        """Make ``dst``'s KV cells a copy of ``src``'s (before the next decode)."""
        ...

    def make_sampler(self, request: GenerationRequest) -> Any:
        """The sampler of one slot for ``request`` (its sampling parameters, grammar);
        a FreeholdError (400) when the request's grammar cannot be parsed."""
        ...

    def sample(self, sampler: Any, batch_index: int, constrained: bool = False) -> int:
        """The next token; ``constrained``: held to the request's grammar."""
        ...

    def token_logprob(self, batch_index: int, token: int, top: int) -> TokenLogprob:
        """``token``'s log-probability at ``batch_index`` and the ``top`` alternatives."""
        ...

    def free_sampler(self, sampler: Any) -> None: ...
