"""Read a stream of named SSE events (``event:`` + ``data:``), as Responses and Anthropic send."""

from __future__ import annotations

import json
from typing import Any


def named_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) per event; every event has both lines, and no [DONE] follows."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        fields = dict(line.split(": ", 1) if ": " in line else (line[:-1], "") for line in lines)
        assert set(fields) == {"event", "data"}, (
            f"an event has an event: and a data: line: {block!r}"
        )
        assert fields["data"] != "[DONE]"
        out.append((fields["event"], json.loads(fields["data"])))
    return out
