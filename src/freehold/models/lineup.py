"""The models a server offers, from its settings: ``--model`` (NAME=MODEL or a bare
reference), the YAML ``models:`` list, ``--alias`` and ``--lora``; with none given, the
embedded default plus every model in the local store."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freehold.config import ModelConfig, Settings
from freehold.engine.lora import Adapter
from freehold.errors import FreeholdError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")


@dataclass
class Planned:
    """A model to offer: its id, where it comes from, and what it sets for itself."""

    id: str | None  # None: derived from the file once located
    ref: str | None  # None: the embedded default
    aliases: list[str] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)
    keep_alive: float | None = None
    adapters: list[Adapter] = field(default_factory=list)
    path: Path | None = None
    mmproj: Path | None = None  # the projector stored beside a pulled model


def split_named(text: str) -> tuple[str | None, str]:
    """``NAME=VALUE`` → (NAME, VALUE) when NAME is a plain model name; else (None, text)."""
    name, sep, value = text.partition("=")
    if sep and value and _NAME.match(name):
        return name, value
    return None, text


def parse_adapter(text: str, where: str = "--lora") -> tuple[str | None, Adapter]:
    """``[MODEL/]NAME=PATH[:SCALE]`` → (MODEL, Adapter)."""
    target, sep, spec = text.partition("=")
    if not sep or not target or not spec:
        raise FreeholdError(f"{where} wants MODEL/NAME=PATH[:SCALE], got {text!r}")
    model, _, name = target.rpartition("/")
    path, scale = spec, 1.0
    head, colon, tail = spec.rpartition(":")
    if colon and head:
        try:
            path, scale = head, float(tail)
        except ValueError:
            path = spec
    return (model or None), Adapter(name, Path(path).expanduser(), scale)


def plan(settings: Settings) -> list[Planned]:
    """Every model named by the settings, in order (the first is the default)."""
    planned = [_from_config(m) for m in settings.models]
    for text in settings.model:
        name, ref = split_named(text)
        planned.append(Planned(name, ref))
    if not planned:
        planned.append(Planned(None, None))
    return planned


def _from_config(cfg: ModelConfig) -> Planned:
    adapters = [parse_adapter(t, "lora")[1] for t in cfg.lora]
    return Planned(
        cfg.name, cfg.model, list(cfg.aliases), cfg.overrides(), cfg.keep_alive, adapters
    )


def apply_aliases_and_adapters(planned: list[Planned], settings: Settings) -> dict[str, str]:
    """Attach bare ``--alias`` (the first model's id) and ``--lora`` to their models;
    returns the NAME=MODEL aliases."""
    aliases: dict[str, str] = {}
    for text in settings.alias:
        name, target = split_named(text)
        if name is None:
            planned[0].id = text  # a bare alias names the first model, as --alias always did
        else:
            aliases[name] = target
    for text in settings.lora:
        model, adapter = parse_adapter(text)
        owner = _find(planned, model) if model else planned[0]
        owner.adapters.append(adapter)
    return aliases


def _find(planned: list[Planned], name: str) -> Planned:
    for p in planned:
        if name in (p.id, *p.aliases):
            return p
    known = ", ".join(repr(p.id) for p in planned)
    raise FreeholdError(f"--lora names the model {name!r}, which is not served ({known})")


def locate(planned: list[Planned], settings: Settings) -> None:
    """Find (or pull) each model's file and give it its id: its NAME, the reference as
    typed, or a path's file stem."""
    from freehold.models.resolve import locate as locate_ref

    for p in planned:
        if p.path is None:
            found = locate_ref(
                p.ref,
                models_dir=settings.models_dir,
                offline=settings.offline,
                token=settings.hf_token,
                ctx_size=settings.ctx_size,
            )
            p.path, p.mmproj = found.path, found.mmproj
        if p.id is None:
            local = p.ref is None or Path(p.ref).expanduser().exists()
            p.id = p.path.name.removesuffix(".gguf") if local else p.ref


def store_models(settings: Settings, taken: list[Planned]) -> list[Planned]:
    """Every model in the local store that is not served already."""
    from freehold.models.store import Store

    store = Store(settings.models_dir)
    paths = {p.path for p in taken}
    found = []
    for manifest in store.entries():
        path = store.model_path(manifest)
        if path.is_file() and path not in paths:
            aliases = list(manifest.aliases)
            mmproj = store.mmproj_path(manifest)
            found.append(Planned(manifest.name, manifest.name, aliases, path=path, mmproj=mmproj))
    return found


def check_unique(planned: list[Planned]) -> None:
    seen: set[str] = set()
    for p in planned:
        assert p.id is not None
        if p.id in seen:
            raise FreeholdError(f"two models are served as {p.id!r}: name them NAME=MODEL")
        seen.add(p.id)
