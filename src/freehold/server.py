"""`freehold serve`: settings → model file → engine → app → uvicorn."""

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
from freehold.serving import run_app

log = logging.getLogger("freehold")


def build_engine(settings: Settings, path: Path) -> LlamaEngine:
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
    )
    return LlamaEngine(
        path,
        model_id(settings, path),
        config,
        settings.max_queue,
        request_timeout=settings.request_timeout,
        mmproj=settings.mmproj,
    )


def model_id(settings: Settings, path: Path) -> str:
    if settings.alias:
        return settings.alias
    if settings.model and not Path(settings.model).expanduser().exists():
        return settings.model  # a hub reference or alias: clients use what the user typed
    return path.name.removesuffix(".gguf")


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
    from freehold.models.resolve import locate_model

    path = locate_model(
        settings.model,
        models_dir=settings.models_dir,
        offline=settings.offline,
        token=settings.hf_token,
        ctx_size=settings.ctx_size,
    )
    if not _is_loopback(settings.host) and not settings.api_keys():
        log.warning(
            "binding %s without an API key: anyone who can reach this address can "
            "use the model; set --api-key or FREEHOLD_API_KEY",
            settings.host,
        )
    engine = build_engine(settings, path)
    log.info(
        "serving %s as '%s' on http://%s:%d (%d slots)",
        path,
        engine.info.id,
        settings.host,
        settings.port,
        engine.n_slots,
    )
    app = create_app(settings, engine)
    run_app(app, settings)
    return 1 if app.state.load_error is not None else 0
