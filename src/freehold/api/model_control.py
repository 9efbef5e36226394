"""Loaded models, Ollama's way: GET /api/ps lists them (name, size, size_vram, expires_at)
and POST /api/unload unloads one by hand (as soon as its last request ends)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict

from freehold.api.auth import require_api_key
from freehold.api.routes import RESPONSES, service
from freehold.api.service import Service
from freehold.engine.registry import Entry

control = APIRouter(prefix="/api", dependencies=[Depends(require_api_key)], responses=RESPONSES)
NEVER = "2318-01-01T00:00:00Z"  # Ollama's far future for a model kept loaded for ever


class UnloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str


def _expires_at(entry: Entry) -> str:
    if entry.expires_at is not None:
        return datetime.fromtimestamp(entry.expires_at, timezone.utc).isoformat()
    if entry.keep_alive is None:
        return NEVER
    now = datetime.now(timezone.utc).timestamp()  # in use: its idle time starts at the end
    return datetime.fromtimestamp(now + entry.keep_alive, timezone.utc).isoformat()


def ps_row(svc: Service, entry: Entry) -> dict[str, Any]:
    info = entry.info
    on_gpu = svc.gpu_offload and svc.settings_for(entry).n_gpu_layers != 0
    return {
        "name": entry.id,
        "model": entry.id,
        "size": entry.spec.memory,
        "size_vram": entry.spec.memory if on_gpu else 0,
        "digest": "",
        "details": {
            "format": "gguf",
            "family": info.architecture if info else "",
            "parameter_size": str(info.n_params) if info else "",
            "quantization_level": info.quantization if info else "",
        },
        "expires_at": _expires_at(entry),
        "context_length": info.n_ctx_slot if info else 0,
        "status": entry.status,
        "in_use": entry.users,
    }


@control.get("/ps")
async def list_loaded(request: Request) -> dict[str, Any]:
    svc = service(request)
    loaded = [e for e in svc.registry.entries() if e.status in ("loaded", "loading")]
    return {"models": [ps_row(svc, e) for e in loaded]}


@control.post("/unload")
async def unload(body: UnloadRequest, request: Request) -> dict[str, Any]:
    """Unload now when idle (the answer comes once it is gone), else after its requests."""
    registry = service(request).registry
    entry = registry.resolve(body.model)
    registry.unload(entry)
    await registry.settle(entry)
    return {"model": entry.id, "status": entry.status, "in_use": entry.users}
