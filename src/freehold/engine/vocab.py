"""The tokenizer as the API sees it: tokenize, detokenize, pieces, and token-id checks."""

from __future__ import annotations

from typing import Protocol

from freehold.errors import bad_request


class Vocab(Protocol):
    """A model's tokenizer (LlamaBackend, or the fake's). Safe from any thread."""

    n_vocab: int

    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        """Tokens of ``text``; special-token text (``<|im_start|>``) is parsed as such."""
        ...

    def piece(self, token: int, special: bool = False) -> bytes: ...


def check_token_ids(tokens: list[int], n_vocab: int, param: str) -> None:
    """400 for an id the model does not have (llama.cpp would read out of bounds)."""
    for i, token in enumerate(tokens):
        if not 0 <= token < n_vocab:
            raise bad_request(
                f"token {token} at {param}[{i}] is not in the model's vocabulary "
                f"(ids 0 to {n_vocab - 1})",
                param=param,
                code="invalid_token",
            )


def detokenize(vocab: Vocab, tokens: list[int]) -> str:
    """The text of ``tokens``, special tokens written out (as llama-server's /detokenize)."""
    check_token_ids(tokens, vocab.n_vocab, "tokens")
    return b"".join(vocab.piece(t, True) for t in tokens).decode("utf-8", errors="replace")


def piece_value(data: bytes) -> str | list[int]:
    """A piece as llama-server's /tokenize writes it: its text when it is whole UTF-8,
    else its bytes (a piece may be part of a multi-byte character)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return list(data)
