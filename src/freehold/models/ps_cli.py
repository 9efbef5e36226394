"""``freehold ps [--url URL]``: the models a running server has loaded (GET /api/ps)."""

from __future__ import annotations

import argparse
import json
import os
from datetime import datetime, timezone
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"


def register(subparsers: Any) -> None:
    ps = subparsers.add_parser("ps", help="list the models a running server has loaded")
    ps.add_argument("--url", default=DEFAULT_URL, help=f"the server (default {DEFAULT_URL})")
    ps.add_argument("--api-key", default=os.environ.get("FREEHOLD_API_KEY"), help="its key")
    ps.add_argument("--json", action="store_true", help="machine-readable output")
    ps.set_defaults(func=_ps)


def _ps(args: argparse.Namespace) -> int:
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    try:
        r = httpx.get(f"{args.url.rstrip('/')}/api/ps", headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        print(f"freehold ps: cannot reach {args.url}: {exc}")
        return 1
    if r.status_code != 200:
        print(f"freehold ps: {args.url} answered {r.status_code}: {r.text[:200]}")
        return 1
    models = r.json()["models"]
    if args.json:
        print(json.dumps(models, indent=2))
        return 0
    print(format_table(models))
    return 0


def format_table(models: list[dict[str, Any]]) -> str:
    rows = [("NAME", "SIZE", "PROCESSOR", "STATUS", "UNTIL")]
    for m in models:
        where = "GPU" if m.get("size_vram") else "CPU"
        rows.append((m["name"], f"{m['size'] / 2**20:.0f} MiB", where, m["status"], _until(m)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def _until(model: dict[str, Any]) -> str:
    if model.get("in_use"):
        return "in use"
    when = datetime.fromisoformat(model["expires_at"].replace("Z", "+00:00"))
    seconds = (when - datetime.now(timezone.utc)).total_seconds()
    if seconds > 10 * 365 * 86400:
        return "forever"
    return f"{max(0, int(seconds))} s"
