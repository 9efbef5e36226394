"""Validate freehold's responses against OpenAI's published OpenAPI schemas."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC = Path(__file__).parent / "data" / "openai-schemas.json"


@functools.cache
def _spec() -> dict[str, Any]:
    return _nullable_to_31(json.loads(SPEC.read_text()))


def _nullable_to_31(node: Any) -> Any:
    """The spec says 3.1 but still writes some fields in 3.0's ``nullable: true``; give
    them their 3.1 meaning (type or null) so a 3.1 validator reads them as published."""
    if isinstance(node, list):
        return [_nullable_to_31(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _nullable_to_31(v) for k, v in node.items()}
    if node.pop("nullable", False):
        if isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        if "enum" in node:
            node["enum"] = [*node["enum"], None]
    return node


@functools.cache
def _validator(name: str) -> OAS31Validator:
    spec = _spec()
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:openai", resource)
    schema = {"$ref": f"urn:openai#/components/schemas/{name}"}
    return OAS31Validator(schema, registry=registry)


def validate(name: str, instance: Any) -> None:
    """Raise AssertionError naming the first schema violation of ``instance``."""
    try:
        _validator(name).validate(instance)
    except ValidationError as exc:
        path = "/".join(str(p) for p in exc.absolute_path)
        raise AssertionError(f"{name} violated at /{path}: {exc.message}") from exc


@functools.cache
def _stream_event_schemas() -> dict[str, str]:
    """Responses stream event type (``response.created``…) → the name of its schema."""
    schemas = _spec()["components"]["schemas"]
    out = {}
    for ref in schemas["ResponseStreamEvent"]["anyOf"]:
        name = ref["$ref"].rsplit("/", 1)[1]
        for kind in schemas[name]["properties"]["type"].get("enum", []):
            out[kind] = name
    return out


def validate_response_event(event: dict[str, Any]) -> None:
    """Validate a Responses stream event against the schema of its own ``type``."""
    name = _stream_event_schemas().get(event.get("type", ""))
    assert name is not None, f"no Responses stream event has the type {event.get('type')!r}"
    validate(name, event)
