"""A local GGUF (every shard of a split one) into the store, linked or copied."""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath

from freehold.download import transfer
from freehold.download.progress import Reporter
from freehold.download.quants import SHARD_RE, quant_of
from freehold.errors import FreeholdError
from freehold.models.store import Manifest, Store, StoredFile


def _local_files(path: Path) -> list[Path]:
    shard = SHARD_RE.match(path.name)
    if not shard:
        return [path]
    return sorted(path.parent.glob(f"{shard['stem']}-*-of-{shard['count']}.gguf"))


def _link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)  # same filesystem: no copy
    except OSError:
        shutil.copy2(src, dest)


def import_local(path: Path, store: Store, reporter: Reporter) -> Manifest:
    """Bring a local GGUF (every shard of a split one) into the store. An entry is found
    again by the file's resolved path and size, never by its name: two different files
    called model.gguf get two entries."""
    files = _local_files(path.resolve())
    found = _imported(store, files)
    if found is not None:
        reporter.note("exists", f"{found.name} is already in the store", name=found.name)
        return found
    name = _free_name(store, PurePosixPath(files[0].name).stem)
    folder = store.entry_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    stored = []
    for src in files:
        dest = folder / src.name
        if not dest.exists():
            _link_or_copy(src, dest)
        digest = transfer.file_digest(dest, "sha256")
        size = src.stat().st_size
        stored.append(StoredFile(path=str(src), file=src.name, size=size, sha256=digest))
    aliases = sorted({str(path), str(path.resolve())})
    manifest = Manifest(
        name=name, source="local", quant=quant_of(path.name), files=stored, aliases=aliases
    )
    store.save(manifest)
    reporter.note("done", f"imported {path} as {name}", name=name)
    return manifest


def _imported(store: Store, files: list[Path]) -> Manifest | None:
    """The entry already imported from these very files (same paths, same sizes)."""
    wanted = [(str(f), f.stat().st_size) for f in files]
    for manifest in store.entries():
        have = [(f.path, f.size) for f in manifest.files]
        if manifest.source == "local" and have == wanted and store.model_path(manifest).is_file():
            return manifest
    return None


def _free_name(store: Store, stem: str) -> str:
    """``stem``, or ``stem-2``, ``stem-3``… when another model already has that name."""
    for name in [stem, *(f"{stem}-{n}" for n in range(2, 1000))]:
        if store.find(name) is None and not store.entry_dir(name).exists():
            return name
    raise FreeholdError(f"too many models named {stem} in the store", code="name_taken")
