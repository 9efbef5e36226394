"""freehold's errors in Anthropic's shape: ``{"type": "error", "error": {"type", "message"}}``,
with the status Anthropic's SDK maps to the matching exception."""

from __future__ import annotations

from typing import Any

from freehold.errors import FreeholdError

PATH_PREFIX = "/v1/messages"
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    return _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_body(exc: FreeholdError) -> dict[str, Any]:
    """Anthropic's errors have no ``param``: the message names the field, as theirs do."""
    message = exc.message
    if exc.param and exc.param not in message:
        message = f"{exc.param}: {message}"
    return {"type": "error", "error": {"type": error_type(exc.status), "message": message}}
