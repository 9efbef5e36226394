"""The local model store: one folder per model, holding its GGUF file(s) and a manifest.

Layout (``FREEHOLD_MODELS_DIR``, see models/README.md)::

    <store>/<slug>/manifest.json     written last, once every file is verified
    <store>/<slug>/<file>.gguf       the model (split GGUFs: every shard, first one served)
    <store>/<slug>/mmproj-*.gguf     its vision projector, when the repo has one
    <store>/<slug>/<file>.<sha>.part a download in progress, resumed by the next pull

A folder without a manifest is an unfinished pull: it is not listed and not served.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from freehold.errors import FreeholdError, not_found

MANIFEST = "manifest.json"


class StoredFile(BaseModel):
    path: str  # the file's path in its repo (or the imported file's original path)
    file: str  # its name inside the entry folder
    size: int
    sha256: str | None = None


class Manifest(BaseModel):
    """What the store knows about one model; ``verified`` means every sha256 matched the hub's."""

    name: str
    source: str = "hub"  # "hub" or "local"
    repo: str | None = None
    revision: str | None = None
    commit: str | None = None
    quant: str | None = None
    files: list[StoredFile]
    verified: bool = False
    pulled_at: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    aliases: list[str] = Field(default_factory=list)
    mmproj: StoredFile | None = None  # the vision projector pulled beside the weights
    mmproj_checked: bool = False  # a pull looked for a projector (False: --no-mmproj, or older)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def durable_replace(src: Path, dest: Path) -> None:
    """Rename ``src`` to ``dest`` so that a crash leaves one or the other whole: the data
    reaches the disk before the rename, and the rename before this returns."""
    with src.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(src, dest)
    folder = os.open(dest.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def slug(name: str) -> str:
    """A folder name for a model name, one per name: ``owner/repo:Q4_K_M`` →
    ``owner--repo--Q4_K_M``. A name that this readable form does not spell back exactly
    (``a/b--c:Q4`` and ``a--b/c:Q4`` both read ``a--b--c--Q4``) gets ``~`` and a hash of
    the name appended, a character the readable form never holds."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "--", name).strip("-.") or "model"
    if _spelled_back(readable) == name:
        return readable
    return f"{readable}~{hashlib.sha256(name.encode()).hexdigest()[:12]}"


def _spelled_back(readable: str) -> str:
    """The name a readable slug stands for: ``name``, ``owner/repo`` or ``owner/repo:QUANT``."""
    parts = readable.split("--")
    if len(parts) == 2:
        return "/".join(parts)
    if len(parts) == 3:
        return f"{parts[0]}/{parts[1]}:{parts[2]}"
    return readable if len(parts) == 1 else ""


class Store:
    """The models under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser()

    def entry_dir(self, name: str) -> Path:
        return self.root / slug(name)

    def model_path(self, manifest: Manifest) -> Path:
        """The file to serve: the only file, or the first shard."""
        return self.entry_dir(manifest.name) / manifest.files[0].file

    def mmproj_path(self, manifest: Manifest) -> Path | None:
        """The entry's vision projector, when it has one on disk."""
        if manifest.mmproj is None:
            return None
        path = self.entry_dir(manifest.name) / manifest.mmproj.file
        return path if path.is_file() else None

    def entries(self) -> list[Manifest]:
        if not self.root.is_dir():
            return []
        found = []
        for path in sorted(self.root.glob(f"*/{MANIFEST}")):
            try:
                found.append(Manifest.model_validate_json(path.read_text("utf-8")))
            except (OSError, ValidationError):
                continue  # a damaged manifest is treated as no entry
        return found

    def find(self, *keys: str) -> Manifest | None:
        """The entry whose name or one of whose aliases is one of ``keys`` (any case)."""
        wanted = {k.lower() for k in keys if k}
        for manifest in self.entries():
            names = {manifest.name.lower(), *(a.lower() for a in manifest.aliases)}
            if names & wanted and self.model_path(manifest).is_file():
                return manifest
        return None

    def save(self, manifest: Manifest) -> Path:
        """Write the manifest atomically; the entry exists from this moment on."""
        folder = self.entry_dir(manifest.name)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / (MANIFEST + ".tmp")
        tmp.write_text(manifest.model_dump_json(indent=2) + "\n", "utf-8")
        durable_replace(tmp, folder / MANIFEST)
        return folder / MANIFEST

    def add_alias(self, manifest: Manifest, alias: str) -> Manifest:
        known = {manifest.name.lower(), *(a.lower() for a in manifest.aliases)}
        if alias and alias.lower() not in known:
            manifest = manifest.model_copy(update={"aliases": [*manifest.aliases, alias]})
            self.save(manifest)
        return manifest

    def remove(self, key: str) -> Manifest:
        manifest = self.find(key) or self._find_broken(key)
        if manifest is None:
            raise not_found(f"{key} is not in the store ({self.root})", code="model_not_found")
        shutil.rmtree(self.entry_dir(manifest.name))
        return manifest

    def _find_broken(self, key: str) -> Manifest | None:
        """An entry whose files went missing still has to be removable."""
        for manifest in self.entries():
            if key.lower() in {manifest.name.lower(), *(a.lower() for a in manifest.aliases)}:
                return manifest
        return None

    def free_bytes(self) -> int:
        probe = self.root
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        return shutil.disk_usage(probe).free

    def check_free_space(self, needed: int) -> None:
        """Refuse a transfer the disk cannot hold, naming both numbers."""
        from freehold.download.quants import human_size

        free = self.free_bytes()
        if needed > free:
            raise FreeholdError(
                f"not enough disk space in {self.root}: the download needs "
                f"{human_size(needed)} ({needed} bytes) but only {human_size(free)} "
                f"({free} bytes) are free",
                status=507,
                type="server_error",
                code="insufficient_storage",
            )
