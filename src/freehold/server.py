"""`freehold serve`: settings → the models → a registry of engines → app → uvicorn."""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path
from typing import Any

from freehold.api import create_app
from freehold.config import Settings, load_settings
from freehold.engine.engine import LlamaEngine, auto_slots
from freehold.engine.llama import BackendConfig
from freehold.engine.llama_process import gpu_offload_supported
from freehold.engine.memory import estimate, parse_budget
from freehold.engine.registry import Limits, ModelSpec, Registry
from freehold.engine.turns import DecodeTurns
from freehold.models import lineup
from freehold.serving import run_app

log = logging.getLogger("freehold")


def build_engine(
    settings: Settings, path: Path, spec: ModelSpec, turns: DecodeTurns | None = None
) -> LlamaEngine:
    cores = os.cpu_count() or 1
    slots = settings.parallel or auto_slots(settings.ctx_size or 8192, cores)
    config = BackendConfig(
        n_ctx=settings.ctx_size,
        n_seq=slots,
        n_batch=settings.batch_size,
        threads=settings.threads,
        threads_batch=settings.threads_batch,
        n_gpu_layers=settings.n_gpu_layers,
        flash_attn=settings.flash_attn,
        repack=settings.repack,
        turns=turns,
    )
    return LlamaEngine(
        path,
        spec.id,
        config,
        settings.max_queue,
        request_timeout=settings.request_timeout,
        mmproj=settings.mmproj,
        adapters=spec.adapters,
    )


def build_registry(settings: Settings) -> Registry:
    """Every model the settings name (or the default and the store's), as a registry
    whose engines are built on first use with each model's own settings."""
    planned = lineup.plan(settings)
    lineup.locate(planned, settings)
    aliases = lineup.apply_aliases_and_adapters(planned, settings)
    if not settings.model and not settings.models:
        planned += lineup.store_models(settings, planned)
    lineup.check_unique(planned)
    own = {
        p.id or "": settings.model_copy(update=_projector(p, i, settings))
        for i, p in enumerate(planned)
    }
    specs = [_spec(p, own[p.id or ""], settings, single=len(planned) == 1) for p in planned]
    paths = {p.id: p.path for p in planned}
    turns = DecodeTurns()  # the models take turns at the CPU, one decode at a time

    def factory(spec: ModelSpec) -> LlamaEngine:
        path = paths[spec.id]
        assert path is not None
        return build_engine(own[spec.id], path, spec, turns)

    offloading = settings.n_gpu_layers != 0
    budget = parse_budget(settings.memory_budget, offloading)
    limits = Limits(settings.max_loaded, budget, settings.max_queue)
    return Registry(specs, factory, limits, aliases)


def _projector(p: lineup.Planned, index: int, settings: Settings) -> dict[str, Any]:
    """The model's own settings with its projector: the one it names (YAML ``mmproj``),
    else ``--mmproj`` for the first model, else the one pulled beside it in the store."""
    if "mmproj" in p.overrides:
        return p.overrides
    given = settings.mmproj if index == 0 else None
    return p.overrides | {"mmproj": given or p.mmproj}


def _spec(p: lineup.Planned, own: Settings, settings: Settings, single: bool) -> ModelSpec:
    assert p.id is not None and p.path is not None
    keep = p.keep_alive
    if keep is None and not (single and "keep_alive" not in settings.model_fields_set):
        keep = settings.keep_alive
    memory = estimate(p.path, own.ctx_size)
    projector = own.mmproj.stat().st_size if own.mmproj and own.mmproj.is_file() else 0
    return ModelSpec(
        p.id,
        str(p.path),
        tuple(p.aliases),
        memory=memory.total + projector,
        keep_alive=keep if keep is not None and keep >= 0 else None,
        adapters=tuple(p.adapters),
        options=p.overrides,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(overrides: dict[str, Any], config: Path | None) -> int:
    settings = load_settings(overrides, config)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
    if not _is_loopback(settings.host) and not settings.api_keys():
        log.warning(
            "binding %s without an API key: anyone who can reach this address can "
            "use the model; set --api-key or FREEHOLD_API_KEY",
            settings.host,
        )
    registry = build_registry(settings)
    for spec in registry.specs:
        log.info("model '%s': %s (about %.0f MiB loaded)", spec.id, spec.path, spec.memory / 2**20)
    log.info(
        "serving %d model(s) on http://%s:%d", len(registry.specs), settings.host, settings.port
    )
    app = create_app(settings, registry)
    app.state.service.gpu_offload = gpu_offload_supported()
    run_app(app, settings)
    return 1 if app.state.load_error is not None else 0
