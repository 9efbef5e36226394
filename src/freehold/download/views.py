"""Text and JSON views for ``freehold list`` and ``freehold show``."""

from __future__ import annotations

import json
from pathlib import Path

from freehold.download.pull import find_stored
from freehold.download.quants import human_size
from freehold.download.refs import looks_local
from freehold.errors import not_found
from freehold.models.catalog import load_catalog
from freehold.models.gguf_meta import read_gguf
from freehold.models.store import Manifest, Store


def _verified(m: Manifest) -> str:
    if m.source == "local":
        return "local"
    return "yes" if m.verified else "size only"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def store_table(store: Store, as_json: bool) -> str:
    entries = store.entries()
    if as_json:
        return json.dumps(
            [{**m.model_dump(), "size": m.size, "path": str(store.model_path(m))} for m in entries],
            indent=2,
        )
    if not entries:
        return f"no models in {store.root}; add one with `freehold pull REF`"
    rows = [["NAME", "QUANT", "SIZE", "VERIFIED", "PATH"]]
    rows += [
        [m.name, m.quant or "-", human_size(m.size), _verified(m), str(store.model_path(m))]
        for m in entries
    ]
    return _table(rows)


def catalog_table(as_json: bool) -> str:
    entries = load_catalog()
    if as_json:
        return json.dumps([vars(e) for e in entries.values()], indent=2)
    rows = [["ALIAS", "REPO", "QUANT", "DESCRIPTION"]]
    rows += [[e.alias, e.repo, e.quant or "auto", e.description] for e in entries.values()]
    return _table(rows)


def show(store: Store, name: str, as_json: bool) -> str:
    manifest = find_stored(store, name)
    if manifest is not None:
        path = store.model_path(manifest)
    elif looks_local(name) and Path(name).expanduser().is_file():
        path = Path(name).expanduser()
    else:
        raise not_found(f"{name} is not in the store ({store.root})", code="model_not_found")
    info = read_gguf(path).to_dict()
    if manifest is not None:
        info["store"] = manifest.model_dump()
    if as_json:
        return json.dumps(info, indent=2)
    lines = [
        ("name", manifest.name if manifest else path.name),
        ("path", str(path)),
        ("architecture", info["architecture"] or "?"),
        ("parameters", f"{info['parameters']:,}"),
        ("context length", str(info["context_length"] or "?")),
        ("quantization", info["file_type"] or "?"),
        ("chat template", "yes" if info["chat_template"] else "no"),
        ("reasoning markers", ", ".join(info["reasoning_markers"]) or "none"),
    ]
    if manifest is not None:
        lines += [
            ("repo", manifest.repo or "-"),
            ("commit", manifest.commit or "-"),
            ("size", human_size(manifest.size)),
            ("vision projector", manifest.mmproj.file if manifest.mmproj else "none"),
            ("verified", _verified(manifest)),
            ("pulled at", manifest.pulled_at),
        ]
    return "\n".join(f"{key + ':':<19}{value}" for key, value in lines)
