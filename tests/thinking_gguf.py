"""A test GGUF that "thinks": a copy of a GGUF with its chat template replaced.

No small reasoning model can be had offline, so the real-tier reasoning tests rewrite
SmolLM2-135M's ``tokenizer.chat_template`` into a Qwen3-style thinking template, with the
``gguf`` package (as its ``gguf_new_metadata`` script does). The file goes to a tmp dir;
a .gguf is never committed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import gguf

# ChatML turns, like Qwen3. enable_thinking=false prefills an empty closed block; true or
# unset opens the block in the generation prompt (as DeepSeek-R1 distills do), so the
# model's output begins inside the thinking.
THINKING_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{%- set content = message['content'] %}"
    "{%- if '</think>' in content %}"
    "{%- set content = content.split('</think>')[-1].lstrip('\\n') %}"
    "{%- endif %}"
    "{{- '<|im_start|>assistant\\n' + content + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- else %}"
    "{{- '<think>\\n' }}"
    "{%- endif %}"
    "{%- endif %}"
)

_TEMPLATE_KEY = gguf.Keys.Tokenizer.CHAT_TEMPLATE


def _copy_fields(reader: gguf.GGUFReader, writer: gguf.GGUFWriter) -> None:
    for field in reader.fields.values():
        name = field.name
        if name == gguf.Keys.General.ARCHITECTURE or name.startswith("GGUF."):
            continue  # the writer writes these itself
        if name.startswith(_TEMPLATE_KEY):
            continue  # the default template and any named ones are replaced
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), kind, sub_type=sub)


def make_thinking_gguf(src: Path, dst: Path, template: str = THINKING_TEMPLATE) -> Path:
    """Copy the GGUF ``src`` to ``dst`` with ``template`` as its chat template."""
    reader = gguf.GGUFReader(src, "r")
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE)
    assert arch is not None, f"{src} has no general.architecture"
    writer = gguf.GGUFWriter(dst, arch=str(arch.contents()), endianess=reader.endianess)
    alignment = reader.get_field(gguf.Keys.General.ALIGNMENT)
    if alignment is not None:
        writer.data_alignment = int(alignment.contents())
    _copy_fields(reader, writer)
    writer.add_chat_template(template)
    for tensor in reader.tensors:
        shape, data = tensor.data.shape, tensor.data
        writer.add_tensor_info(tensor.name, shape, data.dtype, data.nbytes, tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in reader.tensors:
        writer.write_tensor_data(tensor.data, tensor_endianess=reader.endianess)
    writer.close()
    return dst


def cached_gguf(cache_dir: Path, kind: str, key: str, build: Callable[[Path], object]) -> Path:
    """``build(path)`` once per ``key`` in ``cache_dir`` (written to a partial file, then
    renamed); building takes seconds, so the tests of a session share the file."""
    dst = cache_dir / f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.gguf"
    if not dst.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = dst.with_suffix(f".{os.getpid()}.part")
        build(partial)
        partial.replace(dst)
    return dst


def source_key(src: Path) -> str:
    """What a GGUF derived from ``src`` depends on: the file's path, size and mtime."""
    stat = src.stat()
    return f"{src.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def cached_thinking_gguf(src: Path, cache_dir: Path, template: str = THINKING_TEMPLATE) -> Path:
    """``make_thinking_gguf`` once per (source, template) in ``cache_dir`` (e.g. under
    pytest's basetemp)."""
    key = f"{source_key(src)}:{template}"
    return cached_gguf(cache_dir, "thinking", key, lambda p: make_thinking_gguf(src, p, template))
