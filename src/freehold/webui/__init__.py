"""The built-in web chat page: ``GET /`` and its assets under ``/webui/``, all package data
(no CDN), with a Content-Security-Policy that lets only freehold's own scripts run."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
# Model output is sanitised before it reaches the DOM; the policy is the second wall:
# no inline script or handler runs, and nothing loads from elsewhere.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}


async def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={**HEADERS, "Cache-Control": "no-cache"})


def install(app: FastAPI) -> None:
    """Serve the page at ``/`` (no API key needed to load it; the page asks for one)."""
    app.add_api_route("/", index, methods=["GET"], include_in_schema=False)
    app.mount("/webui", StaticFiles(packages=[("freehold.webui", "static")]), name="webui")
