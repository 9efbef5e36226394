"""Images in prompts, as the engine sees them.

An image reaches the engine decoded (RGB pixels) in ``GenerationRequest.images``; the
prompt text holds one ``MEDIA_MARKER`` where each goes. The model's projector (mmproj,
through llama.cpp's mtmd) turns each image into embedding rows, one per image token.
In the scheduler's token lists an image token is a negative *pseudo-token* derived from
the image's pixels and its row: a prompt with the same image at the same place has the
same pseudo-tokens, so prefix reuse works for images as for text, and the rows
themselves travel on the job (``Job.images``), decoded by a ``llama_decode`` of their own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

MEDIA_MARKER = "<__media__>"  # llama.cpp mtmd's default marker
_ROW_BITS = 20  # up to ~1M image tokens per image


@dataclass(frozen=True)
class ImageInput:
    """An image's RGB pixels, row-major, 3 bytes a pixel."""

    width: int
    height: int
    rgb: bytes = field(repr=False)

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(b"%dx%d:" % (self.width, self.height) + self.rgb).digest()


def image_tokens(digest: bytes, n_tokens: int, start: int = 0) -> list[int]:
    """The pseudo-tokens of rows ``start`` to ``start + n_tokens`` of the image with
    ``digest`` (negative, never a real id; an image may come in several chunks)."""
    base = int.from_bytes(digest[:5], "big") << _ROW_BITS
    return [-(1 + base + start + i) for i in range(n_tokens)]


def leading_image_tokens(tokens: list[int]) -> int:
    """How many of ``tokens`` are image tokens before the first text token."""
    n = 0
    while n < len(tokens) and tokens[n] < 0:
        n += 1
    return n


def first_image_token(tokens: list[int]) -> int:
    """The index of the first image token in ``tokens`` (its length when none)."""
    return next((i for i, t in enumerate(tokens) if t < 0), len(tokens))
