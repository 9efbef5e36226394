"""The thinking test GGUF: SmolLM2-135M with its chat template rewritten."""

from __future__ import annotations

from pathlib import Path

import gguf
import pytest
from thinking_gguf import THINKING_TEMPLATE, cached_thinking_gguf

from freehold.chat.reasoning import detect_reasoning


def test_the_copy_carries_the_thinking_template(
    model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    dst = cached_thinking_gguf(model_path, tmp_path_factory.getbasetemp() / "thinking")
    assert dst.suffix == ".gguf" and dst.stat().st_size > 0
    copy = gguf.GGUFReader(dst)
    template = copy.get_field(gguf.Keys.Tokenizer.CHAT_TEMPLATE)
    assert template is not None and template.contents() == THINKING_TEMPLATE
    fmt = detect_reasoning(template.contents())
    assert fmt is not None and fmt.switch == "enable_thinking"

    arch = copy.get_field(gguf.Keys.General.ARCHITECTURE)
    assert arch is not None and arch.contents() == "llama"
    for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.eos_token_id", "llama.context_length"):
        assert copy.get_field(key) is not None, key
    # the tensor data, byte for byte (the original is not parsed again: that takes seconds)
    data = dst.stat().st_size - copy.data_offset
    assert data > 90_000_000 and len(copy.tensors) > 0
    with model_path.open("rb") as a, dst.open("rb") as b:
        a.seek(-data, 2)
        b.seek(copy.data_offset)
        assert a.read() == b.read()
    assert cached_thinking_gguf(model_path, dst.parent) == dst  # built once per session
