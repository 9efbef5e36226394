"""The vision projector: llama.cpp's mtmd over a model's mmproj file.

``VisionProjector.prompt`` turns a prompt text with media markers and its images into the
scheduler's token list (text tokens and image pseudo-tokens) and the image rows. It runs
the image encoder, so it is called off the event loop and off the scheduler thread (the
engine calls it in a worker thread before the job is queued); a lock keeps the mtmd
context to one caller at a time. Projectors whose rows need non-causal attention or
M-RoPE positions (Gemma 3, Qwen2-VL families) are refused at load: the scheduler decodes
image rows causally at consecutive positions.
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path

import llama_cpp as L
import llama_cpp.mtmd_cpp as M
import numpy as np

from freehold.engine.vision import ImageInput, image_tokens
from freehold.errors import bad_request

CHUNK_TEXT, CHUNK_IMAGE = 0, 1


class VisionProjector:
    def __init__(self, mmproj: Path, model: object, threads: int) -> None:
        params = M.mtmd_context_params_default()
        params.use_gpu = True
        params.n_threads = threads
        params.print_timings = False
        params.warmup = False
        self.ctx = M.mtmd_init_from_file(str(mmproj).encode(), model, params)
        if not self.ctx:
            raise RuntimeError(f"llama.cpp could not load the projector {mmproj}")
        if not M.mtmd_support_vision(self.ctx):
            self.close()
            raise RuntimeError(f"{mmproj} has no vision encoder")
        if M.mtmd_decode_use_mrope(self.ctx) or M.mtmd_decode_use_non_causal(self.ctx, None):
            self.close()
            raise RuntimeError(
                f"{mmproj}: this projector needs M-RoPE or non-causal image decoding, "
                "which freehold does not do yet"
            )
        self.n_embd = int(L.llama_model_n_embd_inp(model))
        self._lock = threading.Lock()

    def prompt(
        self, text: str, images: tuple[ImageInput, ...]
    ) -> tuple[list[int], dict[int, np.ndarray]]:
        """Tokens (image tokens as pseudo-tokens) and the rows of the image tokens."""
        with self._lock:
            chunks = self._tokenize(text, images)
            try:
                return self._read(chunks)
            finally:
                M.mtmd_input_chunks_free(chunks)

    def _tokenize(self, text: str, images: tuple[ImageInput, ...]) -> object:
        bitmaps = []
        for im in images:
            pixels = (ctypes.c_uint8 * len(im.rgb)).from_buffer_copy(im.rgb)
            bitmaps.append(M.mtmd_bitmap_init(im.width, im.height, pixels))
            M.mtmd_bitmap_set_id(bitmaps[-1], im.digest.hex().encode())
        chunks = M.mtmd_input_chunks_init()
        data = text.encode("utf-8")
        inp = M.mtmd_input_text()
        inp.text, inp.text_len, inp.add_special, inp.parse_special = data, len(data), True, True
        try:
            array = (ctypes.c_void_p * max(1, len(bitmaps)))(*bitmaps)
            code = M.mtmd_tokenize(self.ctx, chunks, ctypes.byref(inp), array, len(bitmaps))
        finally:
            for bitmap in bitmaps:
                M.mtmd_bitmap_free(bitmap)
        if code != 0:
            M.mtmd_input_chunks_free(chunks)
            raise bad_request(
                "the images and the prompt do not match (is the text "
                f"'<__media__>' in a message?): llama.cpp's mtmd_tokenize returned {code}",
                param="messages",
                code="invalid_image",
            )
        return chunks

    def _read(self, chunks: object) -> tuple[list[int], dict[int, np.ndarray]]:
        tokens: list[int] = []
        rows: dict[int, np.ndarray] = {}
        seen: dict[bytes, int] = {}  # rows so far of each image (a sliced image: several chunks)
        for i in range(M.mtmd_input_chunks_size(chunks)):
            chunk = M.mtmd_input_chunks_get(chunks, i)
            kind = M.mtmd_input_chunk_get_type(chunk)
            if kind == CHUNK_TEXT:
                n = ctypes.c_size_t()
                ptr = M.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(n))
                tokens += [int(ptr[k]) for k in range(n.value)]
            elif kind == CHUNK_IMAGE:
                digest = bytes.fromhex(M.mtmd_input_chunk_get_id(chunk).decode())
                embedded = self._encode(chunk)
                ids = image_tokens(digest, len(embedded), seen.get(digest, 0))
                seen[digest] = seen.get(digest, 0) + len(embedded)
                rows.update(zip(ids, embedded, strict=True))
                tokens += ids
            else:
                raise bad_request("only images are supported as media", param="messages")
        return tokens, rows

    def _encode(self, chunk: object) -> np.ndarray:
        n_tokens = int(M.mtmd_input_chunk_get_n_tokens(chunk))
        if M.mtmd_encode_chunk(self.ctx, chunk) != 0:
            raise RuntimeError("llama.cpp could not encode an image")
        out = M.mtmd_get_output_embd(self.ctx)
        flat = np.ctypeslib.as_array(out, shape=(n_tokens * self.n_embd,))
        return flat.reshape(n_tokens, self.n_embd).copy()

    def close(self) -> None:
        if self.ctx:
            M.mtmd_free(self.ctx)
            self.ctx = None
