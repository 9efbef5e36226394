"""Render benchmark results (the dict run.py collects) as RESULTS.md and a PNG plot."""

from __future__ import annotations

import json
import math
from typing import Any

FH, LS, LCP = "freehold", "llama-server", "llama-cpp-python"
ORDER = [FH, LS, LCP]
MB = 1024 * 1024

LOAD_METRICS = [
    ("agg_tok_s", "Aggregate completion tok/s (higher is better)", "{:.1f}"),
    ("ttft_p50_s", "TTFT p50, seconds (lower is better)", "{:.3f}"),
    ("ttft_p95_s", "TTFT p95, seconds (lower is better)", "{:.3f}"),
    ("per_stream_tok_s_p50", "Per-stream decode tok/s, median (higher is better)", "{:.1f}"),
]


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
        return "–"
    return f"{a / b:.2f}"


def _fmt(value: float | None, pattern: str) -> str:
    return "–" if value is None or math.isnan(value) else pattern.format(value)


def load_row(results: dict[str, Any], server: str, conc: int) -> dict[str, Any] | None:
    for row in results["servers"].get(server, {}).get("load", []):
        if row["concurrency"] == conc:
            return dict(row)
    return None


def load_value(results: dict[str, Any], server: str, conc: int, key: str) -> float | None:
    """One metric (the median of the rounds) of one server at one concurrency, or None."""
    row = load_row(results, server, conc)
    return float(row[key]) if row else None


def _spread(row: dict[str, Any] | None, key: str, pattern: str) -> str:
    """The median and, over several rounds, its min–max."""
    if row is None:
        return "–"
    value = _fmt(float(row[key]), pattern)
    lo_hi = row.get("spread", {}).get(key)
    if not lo_hi or row.get("rounds", 1) < 2:
        return value
    return f"{value} ({_fmt(lo_hi[0], pattern)}–{_fmt(lo_hi[1], pattern)})"


def server_names(results: dict[str, Any]) -> list[str]:
    return [s for s in ORDER if s in results["servers"]]


def _load_table(results: dict[str, Any], key: str, title: str, pattern: str) -> list[str]:
    servers = server_names(results)
    head = ["concurrency", *servers, "freehold / llama-server", "freehold / llama-cpp-python"]
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for conc in results["settings"]["concurrency"]:
        rows = {s: load_row(results, s, conc) for s in servers}
        vals = {s: float(r[key]) if r else None for s, r in rows.items()}
        cells = [str(conc), *[_spread(rows[s], key, pattern) for s in servers]]
        cells += [_ratio(vals.get(FH), vals.get(LS)), _ratio(vals.get(FH), vals.get(LCP))]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _prefix_table(results: dict[str, Any]) -> list[str]:
    servers = server_names(results)
    lines = [
        "### Prefix reuse (sequential chats sharing one system prompt)",
        "",
        "| server | prompt tokens | TTFT 1st (s) | TTFT 2nd–last median (s) | rest / first |",
        "|---|---|---|---|---|",
    ]
    for s in servers:
        p = results["servers"][s].get("prefix")
        if not p:
            continue
        lines.append(
            f"| {s} | {p['prompt_tokens'] or '?'} | {p['ttft_first_s']:.3f} | "
            f"{p['ttft_rest_p50_s']:.3f} | {p['ratio_rest_first']:.2f} |"
        )
    fh = results["servers"].get(FH, {}).get("prefix")
    if fh:
        lines.append("")
        lines.append(f"freehold `cached_tokens` per request: {fh['cached_tokens']}")
    return [*lines, ""]


def _shared_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "### One system prompt, many chats at once (TTFT, seconds; lower is better)",
        "",
        "| server | chats | prompt tokens | TTFT p50 | TTFT p95 | TTFT max | cached tokens |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in server_names(results):
        p = results["servers"][s].get("shared")
        if p:
            lines.append(
                f"| {s} | {p['requests']:.0f} | {p['prompt_tokens'] or '?'} | "
                f"{_spread(p, 'ttft_p50_s', '{:.2f}')} | {_spread(p, 'ttft_p95_s', '{:.2f}')} | "
                f"{_spread(p, 'ttft_max_s', '{:.2f}')} | {p['cached_tokens']} |"
            )
    return [*lines, ""]


def rss_load(results: dict[str, Any], server: str) -> float | None:
    """Peak RSS in MB over start-up and the concurrency runs (prefix reuse left out)."""
    data = results["servers"].get(server)
    phases = {k: v for k, v in (data or {}).get("rss_phases", {}).items() if k != "prefix"}
    return max(phases.values()) / MB if phases else None


def _rss_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "### Peak RSS of the server process tree (MB, lower is better)",
        "",
        "| server | peak through the concurrency runs | peak over the whole run |",
        "|---|---|---|",
    ]
    for s in server_names(results):
        data = results["servers"][s]
        if data.get("rss_phases"):
            whole = max(data["rss_phases"].values()) / MB
            lines.append(f"| {s} | {_fmt(rss_load(results, s), '{:.0f}')} | {whole:.0f} |")
    return [*lines, ""]


def _cpu_table(results: dict[str, Any]) -> list[str]:
    phases = [f"c{c}" for c in results["settings"]["concurrency"]] + ["prefix", "shared"]
    lines = [
        "### CPU use during each phase (cores: server / load generator / everything else)",
        "",
        "| server | " + " | ".join(phases) + " |",
        "|" + "---|" * (len(phases) + 1),
    ]
    for s in server_names(results):
        data = results["servers"][s]
        by_phase = {f"c{row['concurrency']}": row for row in data.get("load", [])}
        by_phase["prefix"] = data.get("prefix") or {}
        by_phase["shared"] = data.get("shared") or {}
        cpus = [by_phase.get(ph, {}).get("cpu") for ph in phases]
        cells = [
            f"{c['server']:.2f} / {c['loadgen']:.2f} / {c['background']:.2f}" if c else "–"
            for c in cpus
        ]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _check(label: str, value: str, ok: bool | None) -> str:
    verdict = "n/a" if ok is None else ("PASS" if ok else "FAIL")
    return f"| {label} | {value} | {verdict} |"


def _targets(results: dict[str, Any]) -> list[str]:
    def lv(s: str, c: int, k: str) -> float | None:
        return load_value(results, s, c, k)

    def ratio_check(label: str, a: float | None, b: float | None, bound: float, ge: bool) -> str:
        if a is None or b is None or not b:
            return _check(label, "–", None)
        r = a / b
        return _check(label, f"{r:.2f}", r >= bound if ge else r <= bound)

    def shared(s: str) -> float | None:
        row = results["servers"].get(s, {}).get("shared")
        return float(row["ttft_p50_s"]) if row else None

    agg, ttft = "agg_tok_s", "ttft_p50_s"
    rows = [
        ratio_check("c=8 aggregate tok/s ≥ 1.1 × llama-server", lv(FH, 8, agg), lv(LS, 8, agg),
                    1.1, True),
        ratio_check("c=1 aggregate tok/s ≥ 0.95 × llama-server", lv(FH, 1, agg), lv(LS, 1, agg),
                    0.95, True),
        ratio_check("c=16 TTFT p50 < llama-server's", lv(FH, 16, ttft), lv(LS, 16, ttft),
                    0.999, False),
        ratio_check("chats sharing a system prompt, at once: TTFT p50 ≤ 0.5 × llama-server",
                    shared(FH), shared(LS), 0.5, False),
    ]  # fmt: skip
    last = f"c{max(results['settings']['concurrency'])}"
    fh_rss, ls_rss = rss_load(results, FH), rss_load(results, LS)
    rss_ok = None if fh_rss is None or ls_rss is None else fh_rss <= ls_rss + 250
    diff = "–" if rss_ok is None else f"{fh_rss - ls_rss:+.0f} MB"
    rows.append(_check(f"RSS through {last} ≤ llama-server + 250 MB", diff, rss_ok))
    head = [
        "## Targets (issue 19; medians of the rounds)",
        "",
        "| target | measured | result |",
        "|---|---|---|",
    ]
    return [*head, *rows, ""]


def _header(results: dict[str, Any]) -> list[str]:
    m, v, s = results["machine"], results["versions"], results["settings"]
    lines = [
        "# freehold benchmark results",
        "",
        f"Run {results['started']} with `{results['command']}`: {s.get('rounds', 1)} "
        "round(s), the servers alternated phase by phase; a cell is the median of the rounds "
        "(min–max). The 1-minute load average was "
        f"{results.get('loadavg_at_start', '?')} at the start; each phase's CPU account "
        "below shows the other load during it.",
        "",
        *([results["note"], ""] if results.get("note") else []),
        "## Machine and versions",
        "",
        f"- CPU: {m['cpu']} — {m['cores']} cores; RAM {m['ram_gb']:.1f} GB; {m['os']}; "
        f"Python {m['python']}",
        f"- freehold {v['freehold']} (git {v['git']}), llama-cpp-python {v['llama_cpp_python']}, "
        f"llama.cpp {v['llama_cpp_commit']} (llama-server built from the sdist's vendored tree, "
        "`bench/build_llama_server.sh`, Release, GGML_NATIVE like the pip build)",
        "",
        "## Settings",
        "",
        f"- model: `{s['model']}`",
        f"- threads {s['threads']}, total context {s['ctx_size']}, slots (`-np`/`--parallel`) "
        f"{s['parallel']}, flash attention on/auto",
        f"- load: concurrency {s['concurrency']}, requests = {s['requests_per_conc']} × "
        f"concurrency, {s['max_tokens']} completion tokens each, temperature 0.8, top_p 0.95, "
        "top_k 40, min_p 0.05, repeat_penalty 1.0, seed = request index; request extras "
        "per server below",
        f"- prefix reuse: {s['prefix_requests']} chats one after another, one shared system "
        f"prompt, different short questions, {s['prefix_max_tokens']} tokens each; "
        f"shared: {s.get('shared_requests', '?')} such chats sent at once (a new system "
        "prompt each round)",
        "",
    ]
    for name in server_names(results):
        data = results["servers"][name]
        extra = json.dumps(data.get("extra_body", {}))
        lines.append(f"- {name}: `{' '.join(data.get('argv', []))}`; request extras `{extra}`")
    return [*lines, ""]


def _notes(results: dict[str, Any]) -> list[str]:
    lines = ["## Notes", ""]
    for name in server_names(results):
        data = results["servers"][name]
        if data.get("error"):
            lines.append(f"- {name}: ERROR {data['error']}")
        for row in data.get("load", []):
            if row["short_requests"]:
                lines.append(
                    f"- {name} c={row['concurrency']}: {row['short_requests']} "
                    "requests ended before max_tokens"
                )
        sources = sorted({src for row in data.get("load", []) for src in row["token_source"]})
        if sources:
            lines.append(f"- {name}: completion tokens counted from {', '.join(sources)}")
    return [*lines, ""]


def render(results: dict[str, Any]) -> str:
    """The whole RESULTS.md text."""
    lines = _header(results) + _targets(results) + ["## Measurements", ""]
    for key, title, pattern in LOAD_METRICS:
        lines += _load_table(results, key, title, pattern)
    lines += _shared_table(results) + _prefix_table(results)
    lines += _rss_table(results) + _cpu_table(results)
    lines += ["![aggregate tok/s vs concurrency](throughput.png)", ""]
    lines += ["![TTFT p50 vs concurrency](ttft.png)", ""] + _notes(results)
    return "\n".join(lines)
