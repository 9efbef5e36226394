"""The catalog: short aliases (``qwen3:0.6b``) for popular small GGUF repos on the hub.

Shipped as ``freehold/catalog/models.yaml``; ``qwen3:0.6b`` and ``qwen3-0.6b`` both work.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

DEFAULT_ALIAS = "smollm2:135m"  # the embedded default model (SmolLM2-135M-Instruct Q4_1)


@dataclass(frozen=True)
class CatalogEntry:
    alias: str
    repo: str
    quant: str | None
    description: str = ""

    @property
    def ref(self) -> str:
        return f"{self.repo}:{self.quant}" if self.quant else self.repo


def _key(alias: str) -> str:
    return alias.strip().lower().replace(":", "-")


def load_catalog(path: Path | None = None) -> dict[str, CatalogEntry]:
    """Every catalog entry by alias, as written in the YAML file."""
    if path is None:
        text = resources.files("freehold").joinpath("catalog/models.yaml").read_text("utf-8")
    else:
        text = path.read_text("utf-8")
    raw = yaml.safe_load(text) or {}
    return {
        alias: CatalogEntry(
            alias=alias,
            repo=entry["repo"],
            quant=entry.get("quant"),
            description=entry.get("description", ""),
        )
        for alias, entry in raw.items()
    }


def lookup(alias: str, catalog: dict[str, CatalogEntry] | None = None) -> CatalogEntry | None:
    """The entry for ``alias`` (case-insensitive, ``:`` and ``-`` alike), or None."""
    entries = catalog if catalog is not None else load_catalog()
    wanted = _key(alias)
    return next((e for a, e in entries.items() if _key(a) == wanted), None)
