"""Quantization labels in GGUF file names, split-shard sets, and the choice of one set.

Pure functions over a repo's file listing: no network, no disk.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from freehold.errors import FreeholdError

QUANT_RE = re.compile(
    r"(?<![A-Za-z0-9])((?:UD-)?(?:I?Q\d(?:_[A-Z0-9]+)*|TQ\d_\d|MXFP4(?:_MOE)?|BF16|FP16|F16|F32))"
    r"(?![A-Za-z0-9])",
    re.IGNORECASE,
)
SHARD_RE = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)

# Tried in this order when REF names no quant: Q4_K_M first (llama-server's default), then
# ever smaller quants, so the pick is the largest of them that fits in memory.
PREFERENCE = (
    "Q4_K_M", "Q4_K_S", "Q4_1", "Q4_0", "IQ4_NL", "IQ4_XS",
    "Q3_K_L", "Q3_K_M", "IQ3_M", "Q3_K_S", "IQ3_S", "IQ3_XS", "IQ3_XXS",
    "Q2_K_L", "Q2_K", "IQ2_M", "IQ2_S", "IQ2_XS", "IQ2_XXS", "IQ1_M", "IQ1_S",
)  # fmt: skip
RUNTIME_OVERHEAD = 256 << 20


@dataclass(frozen=True)
class HubFile:
    """One file of a hub repo, as the model-info API lists it."""

    path: str
    size: int
    sha256: str | None = None  # from the LFS pointer; None for a file kept in git
    blob_id: str | None = None  # git blob sha1


@dataclass(frozen=True)
class QuantSet:
    """One downloadable model: a single GGUF, or every shard of a split GGUF in order."""

    quant: str | None
    files: tuple[HubFile, ...]
    expected_shards: int = 1

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def first(self) -> HubFile:
        return self.files[0]

    @property
    def complete(self) -> bool:
        return len(self.files) == self.expected_shards

    @property
    def label(self) -> str:
        return self.quant or PurePosixPath(self.first.path).name


def quant_of(filename: str) -> str | None:
    """The quantization label in a GGUF file name (upper case), e.g. ``Q4_K_M``."""
    name = PurePosixPath(filename).name
    shard = SHARD_RE.match(name)
    stem = shard["stem"] if shard else name.removesuffix(".gguf").removesuffix(".GGUF")
    found = QUANT_RE.findall(stem)
    return found[-1].upper() if found else None


def is_model_gguf(path: str) -> bool:
    name = PurePosixPath(path).name.lower()
    return name.endswith(".gguf") and "mmproj" not in name


def gguf_sets(files: Iterable[HubFile]) -> list[QuantSet]:
    """Group a listing into model sets (shards together), smallest first."""
    groups: dict[str, list[tuple[int, HubFile]]] = {}
    counts: dict[str, int] = {}
    for f in files:
        if not is_model_gguf(f.path):
            continue
        shard = SHARD_RE.match(f.path)
        key = shard["stem"] if shard else f.path
        groups.setdefault(key, []).append((int(shard["index"]) if shard else 1, f))
        counts[key] = int(shard["count"]) if shard else 1
    sets = [
        QuantSet(quant_of(key + ".gguf"), tuple(f for _, f in sorted(items)), counts[key])
        for key, items in groups.items()
    ]
    return sorted(sets, key=lambda s: (s.size, s.first.path))


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def offerings(sets: Sequence[QuantSet]) -> str:
    """What a repo offers, one line per set: quant, size, first file."""
    if not sets:
        return "  (no .gguf files)"
    lines = []
    for s in sets:
        shards = f" ({len(s.files)} shards)" if s.expected_shards > 1 else ""
        lines.append(f"  {s.quant or '-':<12} {human_size(s.size):>9}  {s.first.path}{shards}")
    return "\n".join(lines)


def select_file(sets: Sequence[QuantSet], repo: str, filename: str) -> QuantSet:
    """The set holding ``filename`` (any shard of a split GGUF selects all its shards)."""
    for s in sets:
        if any(f.path == filename for f in s.files):
            return s
    raise FreeholdError(
        f"{repo} has no file {filename}; it offers:\n{offerings(sets)}", code="file_not_found"
    )


def select_quant(sets: Sequence[QuantSet], repo: str, quant: str) -> QuantSet:
    """The one set whose label is ``quant`` (any case); else the one whose label ends in it."""
    want = quant.upper()
    found = [s for s in sets if s.quant == want]
    if not found:
        found = [s for s in sets if s.quant and s.quant.endswith(("-" + want, "_" + want))]
    if len(found) == 1:
        return found[0]
    if not found:
        message = f"{repo} has no {want} quant; it offers:\n{offerings(sets)}"
        raise FreeholdError(message, code="quant_not_found")
    names = "\n".join(f"  {s.first.path}" for s in found)
    raise FreeholdError(
        f"{want} is ambiguous in {repo}: several files match:\n{names}\n"
        f"name one as {repo}/<file.gguf>",
        code="quant_ambiguous",
    )


def memory_needed(size: int, ctx_size: int) -> int:
    """An estimate: weights + a KV cache of ``ctx_size`` tokens + runtime overhead.

    The KV cache per token is guessed from the file size (about 32 KiB for a 1B model,
    128 KiB for an 8B one at Q4), since the GGUF header is not read before the download.
    """
    kv_per_token = max(32 * 1024, size // 40_000)
    return size + ctx_size * kv_per_token + RUNTIME_OVERHEAD


def auto_pick(
    sets: Sequence[QuantSet], repo: str, *, free_memory: int, ctx_size: int
) -> tuple[QuantSet, str]:
    """The first set in PREFERENCE order that fits ``free_memory``; the reason, in words."""
    if not sets:
        raise FreeholdError(f"{repo} has no .gguf files", code="quant_not_found")
    fits = [s for s in sets if s.complete and memory_needed(s.size, ctx_size) <= free_memory]
    budget = f"{human_size(free_memory)} free memory, context {ctx_size}"
    for quant in PREFERENCE:
        matches = [s for s in fits if (s.quant or "").removeprefix("UD-") == quant]
        if matches:
            pick = min(matches, key=lambda s: (s.quant != quant, s.size))
            return pick, f"{pick.label} is the first of the preferred quants that fits ({budget})"
    if fits:
        return fits[0], f"{fits[0].label} is the smallest file that fits ({budget})"
    raise FreeholdError(
        f"no quant of {repo} fits in {budget}; pick one with {repo}:QUANT or lower "
        f"--ctx-size; it offers:\n{offerings(sets)}",
        code="quant_not_found",
    )
