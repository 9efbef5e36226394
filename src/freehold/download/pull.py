"""``freehold pull``: a reference in, a verified store entry out."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from freehold.download import hub, transfer
from freehold.download.progress import Reporter
from freehold.download.quants import (
    SHARD_RE,
    QuantSet,
    auto_pick,
    gguf_sets,
    human_size,
    offerings,
    quant_of,
    select_file,
    select_quant,
)
from freehold.download.refs import Ref, parse_ref
from freehold.errors import FreeholdError
from freehold.models.store import Manifest, Store, StoredFile, slug


@dataclass(frozen=True)
class PullOptions:
    token: str | None = None
    offline: bool = False
    ctx_size: int = 8192
    revision: str | None = None
    free_memory: int | None = None  # None: what the machine has available now
    attempts: int = 5
    backoff: float = 1.0


def not_in_store(text: str, store: Store) -> FreeholdError:
    return FreeholdError(
        f"{text} is not in the store ({store.root}); run `freehold pull {text}` "
        "(offline mode is on, so it is not downloaded)",
        status=404,
        type="not_found_error",
        code="model_not_found",
    )


def store_keys(ref: Ref) -> list[str]:
    """Every name under which ``ref`` may already be in the store."""
    keys = [ref.text, ref.alias or ""]
    if ref.repo and (ref.quant or ref.filename):
        keys.append(entry_name(ref, ref.quant.upper() if ref.quant else None, ref.filename))
    return keys


def find_stored(store: Store, text: str) -> Manifest | None:
    """The store entry ``text`` names, in any spelling of its REF; no network."""
    found = store.find(text)
    if found is not None:
        return found
    try:
        ref = parse_ref(text)
    except FreeholdError:
        return None
    return store.find(*store_keys(ref)) if ref.local is None else store.find(str(ref.local))


def entry_name(ref: Ref, quant: str | None, path: str | None) -> str:
    base = f"{ref.repo}@{ref.revision}" if ref.revision else str(ref.repo)
    return f"{base}/{path}" if ref.filename or not quant else f"{base}:{quant}"


def pull(text: str, store: Store, reporter: Reporter, options: PullOptions) -> Manifest:
    """Bring the model ``text`` names into ``store`` (or find it there) and return its entry."""
    offline = hub.apply_offline(options.offline)
    ref = parse_ref(text)
    if options.revision:
        ref = replace(ref, revision=options.revision)
    if ref.local is not None:
        return import_local(ref.local, store, reporter)
    found = store.find(*store_keys(ref))
    if found is not None:
        reporter.note("exists", f"{found.name} is already in the store", name=found.name)
        return store.add_alias(found, text)
    if offline:
        raise not_in_store(text, store)
    return _pull_from_hub(ref, store, reporter, options)


def _choose(sets: list[QuantSet], ref: Ref, options: PullOptions) -> tuple[QuantSet, str]:
    repo = str(ref.repo)
    if ref.filename:
        return select_file(sets, repo, ref.filename), f"the file {ref.filename}"
    if ref.quant:
        return select_quant(sets, repo, ref.quant), f"the quant {ref.quant.upper()} was asked for"
    if options.free_memory is not None:
        free = options.free_memory
    else:
        import psutil

        free = psutil.virtual_memory().available
    return auto_pick(sets, repo, free_memory=free, ctx_size=options.ctx_size)


def _pull_from_hub(ref: Ref, store: Store, reporter: Reporter, options: PullOptions) -> Manifest:
    repo = str(ref.repo)
    listing = hub.list_repo(repo, ref.revision, options.token)
    sets = gguf_sets(listing.files)
    chosen, reason = _choose(sets, ref, options)
    reporter.note(
        "resolved",
        f"{repo}: {chosen.label}, {human_size(chosen.size)} in {len(chosen.files)} file(s) "
        f"at commit {listing.commit[:12]} ({reason})",
        repo=repo,
        commit=listing.commit,
        quant=chosen.quant,
        size=chosen.size,
        files=[f.path for f in chosen.files],
        reason=reason,
    )
    if not chosen.complete:
        raise FreeholdError(
            f"{repo}: the split GGUF {chosen.first.path} lists {len(chosen.files)} of "
            f"{chosen.expected_shards} shards; it offers:\n{offerings(sets)}",
            code="incomplete_split",
        )
    name = entry_name(ref, chosen.quant, chosen.first.path)
    with _entry_lock(store, name):  # a second pull of the same model waits, then finds it
        found = store.find(name)
        if found is not None:
            reporter.note("exists", f"{found.name} is already in the store", name=found.name)
            return store.add_alias(found, ref.text)
        manifest = _download(store, name, listing, chosen, reporter, options)
        return _finish(store, name, manifest, ref, reporter)


@contextmanager
def _entry_lock(store: Store, name: str) -> Iterator[None]:
    from huggingface_hub.utils import WeakFileLock

    locks = store.root / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with WeakFileLock(locks / f"{slug(name)}.lock"):
        yield


def _finish(store: Store, name: str, manifest: Manifest, ref: Ref, reporter: Reporter) -> Manifest:
    aliases: list[str] = []
    for alias in (ref.text, ref.alias):
        if alias and alias.lower() not in {name.lower(), *(a.lower() for a in aliases)}:
            aliases.append(alias)
    manifest = manifest.model_copy(update={"revision": ref.revision, "aliases": aliases})
    store.save(manifest)
    reporter.note("done", f"pulled {name} → {store.model_path(manifest)}", name=name)
    return manifest


def _on_disk(folder: Path, f: transfer.HubFile) -> int:
    dest = folder / PurePosixPath(f.path).name
    if dest.is_file():
        return dest.stat().st_size
    part = transfer.partial_path(dest, f)
    return part.stat().st_size if part.is_file() else 0


def _download(
    store: Store,
    name: str,
    listing: hub.Listing,
    chosen: QuantSet,
    reporter: Reporter,
    options: PullOptions,
) -> Manifest:
    folder = store.entry_dir(name)
    store.check_free_space(sum(f.size - _on_disk(folder, f) for f in chosen.files))
    folder.mkdir(parents=True, exist_ok=True)
    stored = []
    try:
        for f in chosen.files:
            stored.append(_fetch_one(folder, f, listing, reporter, options))
    except transfer.HashMismatch:
        # the bad file is gone; shards that verified keep their names for the next pull
        if not any(folder.iterdir()):
            folder.rmdir()
        raise
    return Manifest(
        name=name,
        repo=listing.repo,
        commit=listing.commit,
        quant=chosen.quant,
        files=stored,
        verified=all(f.sha256 or f.blob_id for f in chosen.files),
    )


def _fetch_one(
    folder: Path, f: transfer.HubFile, listing: hub.Listing, reporter: Reporter, opts: PullOptions
) -> StoredFile:
    dest = folder / PurePosixPath(f.path).name
    if dest.is_file() and dest.stat().st_size == f.size:
        digest = f.sha256  # it was verified before it took this name
    else:

        def locate() -> str:
            return hub.locate_file(listing.repo, f.path, listing.commit, opts.token).url

        digest = transfer.fetch(
            f,
            dest,
            locate,
            token=opts.token,
            reporter=reporter,
            repo=listing.repo,
            attempts=opts.attempts,
            backoff=opts.backoff,
        )
    return StoredFile(path=f.path, file=dest.name, size=f.size, sha256=digest)


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
