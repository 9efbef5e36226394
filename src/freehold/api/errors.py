"""The one place that renders errors: OpenAI's error JSON, or Anthropic's on its routes."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from freehold.api.anthropic import errors as anthropic
from freehold.errors import FreeholdError

log = logging.getLogger(__name__)

_HTTP_TYPES = {
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def error_response(exc: FreeholdError, path: str = "") -> JSONResponse:
    """``exc`` in the error dialect of the route at ``path``."""
    body = anthropic.error_body(exc) if path.startswith(anthropic.PATH_PREFIX) else exc.to_dict()
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


_GENERIC = re.compile(r"[a-z-]+\[.+\]")  # list[int], tagged-union[A,B], function-after[f, str]
_BRANCHES = {"str", "int", "float", "bool", "dict", "list", "none", "bytes"}


def _branch(part: int | str) -> bool:
    """A union member's name that pydantic puts in an error's location (``str``,
    ``list[tagged-union[A,B]]``): not a field the client wrote."""
    return isinstance(part, str) and (part in _BRANCHES or _GENERIC.fullmatch(part) is not None)


def _param(loc: tuple[int | str, ...]) -> str | None:
    where = loc[1:] if loc and loc[0] in ("body", "query", "path") else loc
    parts: list[str] = []
    drop_tag_at = -1
    for i, part in enumerate(where):
        if _branch(part):
            if "tagged-union[" in str(part):  # the next key is the tag, after the list index
                drop_tag_at = i + (2 if str(part).startswith(("list[", "dict[")) else 1)
            continue
        if i != drop_tag_at:
            parts.append(str(part))
    return ".".join(parts) or None


def _deepest(errors: Sequence[Any]) -> Any:
    """Of the errors in the first one's top-level field, the one whose location goes
    deepest: for a union (``input``: a string or a list of items) that is the member the
    client meant, not "Input should be a valid string"."""
    field = tuple(errors[0].get("loc", ()))[:2]
    same = [e for e in errors if tuple(e.get("loc", ()))[:2] == field]
    return max(same, key=lambda e: len(e.get("loc", ())))


def validation_error(exc: RequestValidationError) -> FreeholdError:
    first = _deepest(exc.errors())
    loc = tuple(first.get("loc", ()))
    param = _param(loc)
    if first.get("type") == "json_invalid":
        return FreeholdError(f"the body is not valid JSON: {first.get('msg')}", code="invalid_json")
    if param is None:
        return FreeholdError(
            "the request body must be a JSON object (send it with Content-Type: application/json)",
            code="invalid_json",
        )
    if first.get("type") == "extra_forbidden":
        return FreeholdError(
            f"unrecognized request argument supplied: {param}",
            param=param,
            code="unsupported_parameter",
        )
    return FreeholdError(
        f"invalid value for '{param}': {first.get('msg')}", param=param, code="invalid_value"
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(FreeholdError)
    async def _freehold(request: Request, exc: FreeholdError) -> JSONResponse:
        if exc.status >= 500:
            log.error("%s", exc.message)
        return error_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(exc), request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path}"
        err = FreeholdError(
            message,
            status=exc.status_code,
            type=_HTTP_TYPES.get(exc.status_code, "invalid_request_error"),
            code="not_found" if exc.status_code == 404 else None,
            headers=dict(exc.headers or {}),
        )
        return error_response(err, request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        err = FreeholdError(
            f"internal error: {type(exc).__name__}", status=500, type="server_error"
        )
        return error_response(err, request.url.path)
