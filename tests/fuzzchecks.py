"""What the fuzz tests share: loading freehold's OpenAPI document into schemathesis,
the checks every answer must pass, and each route's error shape."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def HYPOTHESIS(examples: int) -> Any:  # noqa: N802 (a decorator, named like one)
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )


def openapi_document(settings: dict[str, Any]) -> dict[str, Any]:
    """freehold's /openapi.json for ``settings`` (built in process, no server needed)."""
    from freehold.api import create_app
    from freehold.config import Settings
    from freehold.engine.fake import FakeEngine

    return create_app(Settings(**settings), FakeEngine()).openapi()


def schema_of(document: dict[str, Any], examples: int, coverage: bool = True) -> Any:
    """``document`` for schemathesis, fuzzed with valid and invalid data; ``coverage``:
    also the coverage phase's boundary cases (their number is not bounded by
    ``examples``)."""
    schema = schemathesis.openapi.from_dict(document)
    if not coverage:
        schema.config.phases.update(phases=["examples", "fuzzing"])
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=examples
    )
    return schema


def error_shaped(path: str, response: Any) -> bool:
    """The error body of the dialect that owns ``path``."""
    try:
        body = response.json()
    except ValueError:
        return False
    if path.startswith("/v1/messages"):  # Anthropic: {"type": "error", "error": {...}}
        error = body.get("error") if body.get("type") == "error" else None
        return isinstance(error, dict) and {"type", "message"} <= error.keys()
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and {"message", "type", "param", "code"} <= error.keys()
