"""The one error type of freehold, rendered as OpenAI's error JSON in one place (api/errors.py)."""

from __future__ import annotations


class FreeholdError(Exception):
    """An error with an HTTP status and OpenAI's error fields.

    Raised anywhere (engine, chat, api, download); the API renders it as
    ``{"error": {"message", "type", "param", "code"}}`` and the CLI prints ``message``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def to_dict(self) -> dict[str, dict[str, str | None]]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def bad_request(message: str, param: str | None = None, code: str | None = None) -> FreeholdError:
    return FreeholdError(message, status=400, param=param, code=code)


def not_found(message: str, code: str = "not_found", param: str | None = None) -> FreeholdError:
    return FreeholdError(message, status=404, type="not_found_error", param=param, code=code)


def queue_full(message: str) -> FreeholdError:
    """429 with Retry-After: no room to wait, whatever was full (slots, model loads)."""
    return FreeholdError(
        message,
        status=429,
        type="rate_limit_error",
        code="queue_full",
        headers={"Retry-After": "1"},
    )
