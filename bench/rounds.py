"""Several rounds of one phase on one server, folded into one row: the median of each
number and its spread (min, max) over the rounds."""

from __future__ import annotations

import statistics
from typing import Any


def fold(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The median row of ``rows`` (numbers; the rest from the last round), with
    ``spread[key] = [min, max]`` and ``rounds`` (how many)."""
    out: dict[str, Any] = dict(rows[-1])
    spread: dict[str, list[float]] = {}
    for key, value in rows[-1].items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        values = [float(r[key]) for r in rows if isinstance(r.get(key), int | float)]
        if len(set(values)) > 1:  # else the value as it was (an int stays an int)
            out[key] = statistics.median(values)
        spread[key] = [min(values), max(values)]
    out["spread"] = spread
    out["rounds"] = len(rows)
    out["cpu_rounds"] = [r.get("cpu") for r in rows]
    out["loadavg_rounds"] = [r.get("loadavg") for r in rows]
    return out


def summarise(target_out: dict[str, Any]) -> None:
    """Rewrite a server's ``load``, ``prefix`` and ``shared`` from its raw ``runs``."""
    runs: dict[str, list[dict[str, Any]]] = target_out.get("runs", {})
    load = []
    for phase, rows in runs.items():
        if phase.startswith("c") and phase[1:].isdigit():
            load.append({**fold(rows), "concurrency": int(phase[1:])})
        else:
            target_out[phase] = fold(rows)
    target_out["load"] = sorted(load, key=lambda row: row["concurrency"])
