"""JSON schema → GBNF grammar (llama.cpp's), refusing what the grammar cannot enforce.

The converter is llama-cpp-python's ``llama_grammar.SchemaConverter``. It enforces types,
properties/required/additionalProperties, items/prefixItems/minItems/maxItems,
enum/const, anyOf/oneOf, allOf of objects, $ref/$defs, string pattern, minLength/
maxLength and the formats date, time, date-time and uuid. A schema using any other
validation keyword is refused (400 naming it) rather than silently not enforced.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from llama_cpp.llama_grammar import JSON_GBNF, SchemaConverter

from freehold.errors import bad_request

ENFORCED = frozenset(
    {
        "type", "properties", "required", "additionalProperties", "items", "prefixItems",
        "minItems", "maxItems", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "$defs",
        "definitions", "pattern", "minLength", "maxLength", "format",
    }
)  # fmt: skip
ANNOTATIONS = frozenset(
    {
        "title", "description", "default", "examples", "$schema", "$id", "$comment",
        "deprecated", "readOnly", "writeOnly", "strict", "nullable", "discriminator",
    }
)  # fmt: skip
FORMATS = frozenset({"date", "time", "date-time", "uuid", "uuid1", "uuid2", "uuid3", "uuid4"})
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
# JSON strings may not hold raw control characters; the converter's char rule allows them.
_LOOSE_CHAR = 'char ::= [^"\\\\] |'
_STRICT_CHAR = 'char ::= [^"\\\\\\x7F\\x00-\\x1F] |'
JSON_OBJECT_GBNF = JSON_GBNF


def _subschemas(schema: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for key in _SUBSCHEMA_MAPS:
        for name, sub in (schema.get(key) or {}).items():
            yield f"{key}.{name}", sub
    for key in _SUBSCHEMA_LISTS:
        for i, sub in enumerate(schema.get(key) or []):
            yield f"{key}[{i}]", sub
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield key, schema[key]


def unenforceable(schema: Any, where: str = "") -> str | None:
    """The first keyword (with its path) that the grammar would not enforce, else None."""
    if not isinstance(schema, dict):
        return None if isinstance(schema, bool) else (where or "schema")
    for key in schema:
        if key not in ENFORCED and key not in ANNOTATIONS:
            return f"{where}{key}"
    fmt = schema.get("format")
    if fmt is not None and fmt not in FORMATS:
        return f"{where}format: {fmt}"
    ref = schema.get("$ref")
    if ref is not None and not str(ref).startswith("#"):
        return f"{where}$ref: {ref}"
    for path, sub in _subschemas(schema):
        found = unenforceable(sub, f"{where}{path}.")
        if found:
            return found
    return None


def schema_to_gbnf(schema: Any, param: str) -> str:
    """The grammar for ``schema``; a 400 (naming ``param`` and the keyword) when the
    schema is not an object, uses a keyword the grammar cannot enforce, or is broken."""
    if not isinstance(schema, dict):
        raise bad_request("the JSON schema must be an object", param)
    bad = unenforceable(schema)
    if bad:
        raise bad_request(
            f"the JSON schema keyword '{bad}' cannot be enforced by freehold's grammar; "
            "remove it (supported: " + ", ".join(sorted(ENFORCED)) + ")",
            param,
        )
    converter = SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    try:
        resolved = converter.resolve_refs(json.loads(json.dumps(schema)), "input")
        converter.visit(resolved, "")
    except (AssertionError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise bad_request(f"the JSON schema cannot be turned into a grammar: {exc}", param) from exc
    return converter.format_grammar().replace(_LOOSE_CHAR, _STRICT_CHAR)
