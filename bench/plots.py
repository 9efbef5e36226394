"""The plots of a benchmark run: aggregate tok/s and TTFT p50 against concurrency, one
line per server, the median of the rounds with their min–max as error bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from report import server_names


def _plot(results: dict[str, Any], path: Path, key: str, ylabel: str, log_y: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for name in server_names(results):
        rows = sorted(results["servers"][name].get("load", []), key=lambda r: r["concurrency"])
        if not rows:
            continue
        xs = [r["concurrency"] for r in rows]
        ys = [r[key] for r in rows]
        spreads = [r.get("spread", {}).get(key, [y, y]) for r, y in zip(rows, ys, strict=True)]
        err = [
            [y - lo for y, (lo, _) in zip(ys, spreads, strict=True)],
            [hi - y for y, (_, hi) in zip(ys, spreads, strict=True)],
        ]
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=name)
    concurrency = results["settings"]["concurrency"]
    ax.set_xscale("log", base=2)
    ax.set_xticks(concurrency, [str(c) for c in concurrency])
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("concurrent streams")
    ax.set_ylabel(ylabel)
    rounds = results["settings"].get("rounds", 1)
    ax.set_title(f"SmolLM2-135M Q4_1, 2 threads (median of {rounds}, min–max)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def throughput(results: dict[str, Any], path: Path) -> None:
    _plot(results, path, "agg_tok_s", "aggregate completion tok/s", log_y=False)


def ttft(results: dict[str, Any], path: Path) -> None:
    _plot(results, path, "ttft_p50_s", "time to first token, p50 (s)", log_y=True)
