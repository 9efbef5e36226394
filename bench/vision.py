"""Images (issue 20): an image prompt's TTFT, and what it does to a text stream beside it.

One freehold server on SmolLM2-135M Q4_1 with a tiny seeded projector (tests/mmproj_gguf.py,
built offline) per image size. Two arms with the same prompt token count: a chat with one
image, and a text-only chat padded to as many tokens. Per round, arms taking turns (the
first arm alternates between rounds):

(a) TTFT of each arm sent alone;
(b) while a long text stream decodes in the other slot, each arm's probe: the stream's
    inter-token gaps that overlap the probe's prefill (send → its first token), p50/p95/max.
    The bar: an image prompt stalls other slots no longer than a text prompt of the same
    token count.

Medians over the rounds with min–max (bench/rounds.py). Writes the section "Images (issue
20)" into bench/RESULTS.md (below bench/sections.py's marker, so bench/run.py keeps it)
and the raw rows to bench/.work/vision.json.

    python bench/vision.py [--rounds 3] [--probes 3] [--image-tokens 16,256] [--label quiet]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "tests"))

import httpx  # noqa: E402
import rounds  # noqa: E402
import sections  # noqa: E402
from mmproj_gguf import PATCH, cached_mmproj_gguf  # noqa: E402
from servers import MODEL, ROOT, Config, RunningServer, ServerSpec  # noqa: E402
from vision_probes import ARMS, Probe, calibrate, stall_round, ttft_round  # noqa: E402

WORK = ROOT / "bench/.work"
HEADING = "## Images (issue 20)"


def _command(mmproj: Path) -> Any:
    def argv(cfg: Config, port: int) -> list[str]:
        return [
            sys.executable, "-m", "freehold", "serve", "--model", str(cfg.model),
            "--mmproj", str(mmproj), "--host", "127.0.0.1", "--port", str(port),
            "--threads", str(cfg.threads), "--ctx-size", str(cfg.ctx_size),
            "--parallel", str(cfg.parallel),
        ]  # fmt: skip

    return argv


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[round(q * (len(ordered) - 1))] if ordered else math.nan


def _gap_stats(row: dict[str, Any], name: str, gaps: list[float]) -> None:
    row[f"gap_p50_{name}"] = _pct(gaps, 0.5) * 1000
    row[f"gap_p95_{name}"] = _pct(gaps, 0.95) * 1000
    row[f"gap_max_{name}"] = max(gaps, default=math.nan) * 1000
    row[f"gaps_{name}"] = float(len(gaps))


def one_round(base: str, probe: Probe, r: int, args: argparse.Namespace) -> dict[str, Any]:
    order = ARMS if r % 2 == 0 else ARMS[::-1]
    first = 1000 * (r + 1)
    alone = asyncio.run(ttft_round(base, probe, order, args.probes, first))
    stall = asyncio.run(
        stall_round(base, probe, order, args.probes, first + 500, args.stream_tokens)
    )
    row: dict[str, Any] = {"order": "/".join(order), "loadavg": os.getloadavg()[0]}
    for arm in ARMS:
        row[f"ttft_{arm}"] = statistics.median(t for t, _ in alone[arm]) * 1000
        tokens = {n for _, n in alone[arm]} | set(stall.prompt_tokens[arm])
        row[f"prompt_tokens_{arm}"] = sorted(tokens)
        _gap_stats(row, arm, stall.gaps(arm))
    _gap_stats(row, "none", stall.gaps(None))
    row["ratio_ttft"] = row["ttft_image"] / row["ttft_text"]
    row["ratio_gap_max"] = row["gap_max_image"] / row["gap_max_text"]
    row["ratio_gap_p95"] = row["gap_p95_image"] / row["gap_p95_text"]
    return row


def bench_projector(tokens: int, args: argparse.Namespace) -> dict[str, Any]:
    side = round(math.sqrt(tokens)) * PATCH
    mmproj = cached_mmproj_gguf(WORK / "mmproj", image_size=side)
    cfg = Config(MODEL, args.threads, args.ctx_size, args.parallel)
    server = RunningServer(ServerSpec("freehold", "freehold", _command(mmproj)), cfg, WORK)
    try:
        server.wait_ready()
        probe = Probe(server.model_id, side)

        async def warm() -> int:
            async with httpx.AsyncClient(timeout=300) as client:
                return await calibrate(client, server.base, probe, 1)

        prompt_tokens = asyncio.run(warm())
        rows = []
        for r in range(args.rounds):
            rows.append(one_round(server.base, probe, r, args))
            print(f"{tokens} tokens/image, round {r + 1}: {json.dumps(rows[-1])}", flush=True)
    finally:
        server.stop()
    return {
        "image_tokens": tokens,
        "image_side": side,
        "prompt_tokens": prompt_tokens,
        "filler": probe.filler,
        "argv": server.argv,
        "rows": rows,
        "folded": rounds.fold(rows),
    }


def _cell(row: dict[str, Any], key: str, pattern: str = "{:.0f}") -> str:
    value, lo_hi = row.get(key), row.get("spread", {}).get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = pattern.format(value)
    if row.get("rounds", 1) > 1 and lo_hi and lo_hi[0] != lo_hi[1]:
        text += f" ({pattern.format(lo_hi[0])}–{pattern.format(lo_hi[1])})"
    return text


def _table(run: dict[str, Any]) -> list[str]:
    f, n = run["folded"], run["image_tokens"]
    lines = []
    names = [("image", "one image"), ("text", "text, same token count"), ("none", "no probe")]
    for key, label in names:
        gaps = " / ".join(_cell(f, f"gap_{q}_{key}") for q in ("p50", "p95", "max"))
        ttft = _cell(f, f"ttft_{key}") if key != "none" else "–"
        tokens = ", ".join(map(str, f.get(f"prompt_tokens_{key}", []))) or "–"
        lines.append(f"| {n} | {label} | {tokens} | {ttft} | {gaps} | {_cell(f, f'gaps_{key}')} |")
    ratios = ", ".join(
        f"{what} {_cell(f, key, '{:.2f}')}"
        for what, key in [("TTFT", "ratio_ttft"), ("gap p95", "ratio_gap_p95"),
                          ("gap max", "ratio_gap_max")]
    )  # fmt: skip
    lines.append(f"| {n} | image / text | | {ratios} | | |")
    return lines


def _shown(argv: list[str]) -> str:
    """The server's command line without paths and port."""
    shown, skip = ["freehold", "serve"], {"--host", "--port"}
    args = iter(argv[4:])
    for flag in args:
        value = next(args, "")
        if flag == "--mmproj":
            value = "MMPROJ"
        if flag not in skip:
            shown += [flag, Path(value).name if flag == "--model" else value]
    return " ".join(shown)


def render(runs: list[dict[str, Any]], args: argparse.Namespace, meta: dict[str, Any]) -> str:
    loads = [r["loadavg"] for run in runs for r in run["rows"]]
    label = args.label or ("quiet" if meta["loadavg"] < 1.0 else "loaded")
    lines = [
        f"Written by `{meta['command']}` ({meta['started']}), **{label}** machine: 1-min load "
        f"average {meta['loadavg']:.1f} at the start, {min(loads):.1f}–{max(loads):.1f} over "
        f"the rounds ({os.cpu_count()} cores). One freehold server per projector: "
        f"`{_shown(runs[0]['argv'])}` (SmolLM2-135M Q4_1, a tiny seeded projector from "
        "tests/mmproj_gguf.py: its encoder costs little, a real one costs more before the "
        "request joins the scheduler, in a worker thread). Both arms have the same prompt "
        f"token count; {args.rounds} round(s), {args.probes} probes per arm per round, arms "
        "alternating; medians of the rounds (min–max). Gaps: the long text stream's "
        'inter-token gaps overlapping a probe\'s prefill (send → its first token); "no probe": '
        "the stream's other gaps. An image's window also holds its encoding (a worker "
        "thread beside the decode thread on the same cores), so more gaps overlap it.",
        "",
        "| tokens/image | probe | prompt tokens | TTFT alone, ms | stream gap p50 / p95 / max, ms "
        "| gaps counted |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        lines += _table(run)
    lines += [
        "",
        "The bar (issue 20): an image prompt does not stall other slots longer than a text "
        "prompt of the same token count, i.e. image / text gap ratios about 1.",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--probes", type=int, default=3, help="probes per arm per round")
    p.add_argument("--image-tokens", default="16,256", help="tokens per image, one server each")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ctx-size", type=int, default=8192)
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--stream-tokens", type=int, default=3000)
    p.add_argument("--label", default="", help="quiet/loaded (default: from the load average)")
    p.add_argument("--results", type=Path, default=ROOT / "bench/RESULTS.md")
    p.add_argument("--no-write", action="store_true", help="print the section only")
    p.add_argument("--report-only", action="store_true", help="re-render from .work/vision.json")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    meta = {
        "command": "python bench/vision.py " + shlex.join(sys.argv[1:] if argv is None else argv),
        "started": time.strftime("%Y-%m-%d %H:%M %Z"),
        "loadavg": os.getloadavg()[0],
    }
    if args.report_only:
        saved = json.loads((WORK / "vision.json").read_text())
        meta, runs = saved["meta"], saved["runs"]
        args.rounds, args.probes = saved.get("rounds", args.rounds), saved.get("probes", 3)
    else:
        runs = [bench_projector(int(t), args) for t in args.image_tokens.split(",")]
        saved = {"meta": meta, "runs": runs, "rounds": args.rounds, "probes": args.probes}
        (WORK / "vision.json").write_text(json.dumps(saved, indent=1) + "\n")
    section = render(runs, args, meta)
    print(section)
    if not args.no_write:
        md = args.results
        md.write_text(sections.put_section(md.read_text(), HEADING, section))
        print(f"wrote {HEADING!r} into {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
