"""API keys: a Bearer token (or x-api-key header) checked against the configured keys."""

from __future__ import annotations

import hmac

from fastapi import Request

from freehold.errors import FreeholdError


def _presented(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    return request.headers.get("x-api-key")


def _same(given: str, key: str) -> bool:
    """Constant-time comparison of bytes: a header arrives as latin-1 text, which may hold
    any byte (``compare_digest`` refuses non-ASCII str); a UTF-8 key matches its bytes."""
    return hmac.compare_digest(given.encode("latin-1"), key.encode("utf-8"))


async def require_api_key(request: Request) -> None:
    keys: list[str] = request.app.state.api_keys
    if not keys:
        return
    given = _presented(request)
    if given is None or not any(_same(given, k) for k in keys):
        raise FreeholdError(
            "missing API key: send 'Authorization: Bearer KEY'"
            if given is None
            else "invalid API key",
            status=401,
            type="authentication_error",
            code="invalid_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
