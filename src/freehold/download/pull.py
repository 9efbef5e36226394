"""``freehold pull``: a reference in, a verified store entry out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from freehold.download import hub, transfer
from freehold.download.local import import_local
from freehold.download.progress import Reporter
from freehold.download.projector import pick_projector
from freehold.download.quants import (
    QuantSet,
    auto_pick,
    gguf_sets,
    human_size,
    offerings,
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
    mmproj: bool = True  # fetch the repo's vision projector too (--no-mmproj: False)


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
        if options.mmproj and not found.mmproj_checked and found.repo and not offline:
            found = _add_projector(store, found, reporter, options)
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
    projector = pick_projector(listing.files, chosen) if options.mmproj else None
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
    if projector is not None:
        _note_projector(reporter, repo, *projector)
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
        manifest = _download_entry(store, name, listing, chosen, projector, reporter, options)
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


def _note_projector(reporter: Reporter, repo: str, f: transfer.HubFile, why: str) -> None:
    reporter.note(
        "projector",
        f"{repo}: vision projector {f.path}, {human_size(f.size)} "
        f"({why}; skip it with --no-mmproj)",
        repo=repo,
        file=f.path,
        size=f.size,
        reason=why,
    )


def _add_projector(
    store: Store, found: Manifest, reporter: Reporter, options: PullOptions
) -> Manifest:
    """Complete an entry pulled without a projector (--no-mmproj, or before projectors were
    pulled) with the projector its repo has at the entry's commit, if any."""
    assert found.repo is not None
    listing = hub.list_repo(found.repo, found.commit or found.revision, options.token)
    weights = QuantSet(found.quant, (transfer.HubFile(found.files[0].path, found.files[0].size),))
    projector = pick_projector(listing.files, weights)
    if projector is not None:
        _note_projector(reporter, found.repo, *projector)
        with _entry_lock(store, found.name):
            got = _download(store, found.name, listing, (projector[0],), reporter, options)
        found = found.model_copy(update={"mmproj": got[0]})
    found = found.model_copy(update={"mmproj_checked": True})
    store.save(found)
    return found


def _download_entry(
    store: Store,
    name: str,
    listing: hub.Listing,
    chosen: QuantSet,
    projector: tuple[transfer.HubFile, str] | None,
    reporter: Reporter,
    options: PullOptions,
) -> Manifest:
    """The weights and, when there is one, the projector, as one unsaved entry."""
    files = chosen.files + ((projector[0],) if projector else ())
    stored = _download(store, name, listing, files, reporter, options)
    return Manifest(
        name=name,
        repo=listing.repo,
        commit=listing.commit,
        quant=chosen.quant,
        files=stored[: len(chosen.files)],
        mmproj=stored[-1] if projector else None,
        mmproj_checked=options.mmproj,
        verified=all(f.sha256 or f.blob_id for f in files),
    )


def _download(
    store: Store,
    name: str,
    listing: hub.Listing,
    files: tuple[transfer.HubFile, ...],
    reporter: Reporter,
    options: PullOptions,
) -> list[StoredFile]:
    folder = store.entry_dir(name)
    store.check_free_space(sum(f.size - _on_disk(folder, f) for f in files))
    folder.mkdir(parents=True, exist_ok=True)
    stored = []
    try:
        for f in files:
            stored.append(_fetch_one(folder, f, listing, reporter, options))
    except transfer.HashMismatch:
        # the bad file is gone; files that verified keep their names for the next pull
        if not any(folder.iterdir()):
            folder.rmdir()
        raise
    return stored


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
