"""Per-request model options: ``keep_alive`` (Ollama's) and LoRA adapter choices."""

from __future__ import annotations

import re

from freehold.engine.lora import Adapter, AdapterChoice, normalize_choice
from freehold.errors import bad_request

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_keep_alive(value: float | str | None) -> float | None:
    """Seconds a model stays loaded after the request (negative: forever), from a number
    of seconds or a Go-style duration as Ollama takes it ("5m", "1h30m", "-1"); None when
    the request does not say."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    parts = _DURATION.findall(body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise bad_request(
            f"keep_alive must be seconds or a duration like '5m' or '1h30m', got {value!r}",
            "keep_alive",
        )
    return sign * sum(float(n) * _UNIT[u] for n, u in parts)


def choose_adapters(
    model_id: str,
    offered: tuple[Adapter, ...],
    named: Adapter | None,
    requested: tuple[tuple[str, float | None], ...],
) -> AdapterChoice:
    """The LoRA adapters of one request: the one its model id names (``MODEL:NAME``), then
    the (name, scale) pairs it asks for (a scale given there wins; None: the adapter's own)."""
    by_name = {a.name: a for a in offered}
    pairs = [(named.name, named.scale)] if named is not None else []
    for name, scale in requested:
        adapter = by_name.get(name)
        if adapter is None:
            have = ", ".join(repr(n) for n in by_name) or "none"
            raise bad_request(
                f"the model '{model_id}' has no LoRA adapter '{name}' (it has: {have})",
                "lora",
                code="lora_not_found",
            )
        pairs.append((adapter.name, adapter.scale if scale is None else scale))
    return normalize_choice(pairs)
