"""What a GGUF file says about itself, read with the ``gguf`` package (no model load)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from freehold.errors import FreeholdError

REASONING_MARKERS = ("<think>", "[THINK]", "<|channel|>")


@dataclass(frozen=True)
class GGUFInfo:
    path: str
    architecture: str | None
    name: str | None
    parameters: int
    context_length: int | None
    file_type: str | None
    chat_template: bool
    reasoning_markers: list[str] = field(default_factory=list)
    split_count: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _field(reader: Any, key: str) -> Any:
    item = reader.fields.get(key)
    return item.contents() if item is not None else None


def file_type_name(value: int | None) -> str | None:
    """``general.file_type`` as a quant label: 3 → ``Q4_1``."""
    if value is None:
        return None
    from gguf import LlamaFileType

    try:
        return LlamaFileType(int(value)).name.removeprefix("MOSTLY_")
    except ValueError:
        return str(value)


def _parameters(path: Path, reader: Any, split_count: int) -> int:
    from gguf import GGUFReader

    total = sum(int(t.n_elements) for t in reader.tensors)
    if split_count > 1:  # the other shards' tensors, from their own headers
        stem = path.name.rsplit("-00001-of-", 1)[0]
        for shard in sorted(path.parent.glob(f"{stem}-*-of-{split_count:05d}.gguf"))[1:]:
            total += sum(int(t.n_elements) for t in GGUFReader(shard).tensors)
    return total


def read_gguf(path: Path) -> GGUFInfo:
    """Architecture, parameters, context length, template and quant of a GGUF (first shard)."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(path)
    except (ValueError, OSError) as exc:
        raise FreeholdError(f"{path} is not a readable GGUF file: {exc}", code="bad_gguf") from exc
    arch = _field(reader, "general.architecture")
    template = _field(reader, "tokenizer.chat_template") or ""
    split_count = int(_field(reader, "split.count") or 1)
    return GGUFInfo(
        path=str(path),
        architecture=arch,
        name=_field(reader, "general.name"),
        parameters=_parameters(path, reader, split_count),
        context_length=_field(reader, f"{arch}.context_length") if arch else None,
        file_type=file_type_name(_field(reader, "general.file_type")),
        chat_template=bool(template),
        reasoning_markers=[m for m in REASONING_MARKERS if m in template],
        split_count=split_count,
    )
