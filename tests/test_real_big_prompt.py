"""A 7 MiB prompt (under --max-body-bytes) must not stall the other streams: its body is
parsed, and refused for its length, without holding the event loop (issue 13's fix,
confirmed here with the real model)."""

from __future__ import annotations

import statistics
import threading
import time

import httpx
import pytest
from realserver import smollm2_server

pytestmark = pytest.mark.real
STREAM = {
    "messages": [{"role": "user", "content": "Tell me a long story."}],
    "max_tokens": 400,
    "ignore_eos": True,
    "stream": True,
}


def _stream_arrivals(url: str, out: list[float], stop: threading.Event) -> None:
    """Note when each event arrives, until ``stop`` (leaving cancels the stream)."""
    with httpx.stream("POST", url, json=STREAM, timeout=300) as r:
        for line in r.iter_lines():
            if line.startswith("data:"):
                out.append(time.monotonic())
            if stop.is_set():
                return


def _p99(gaps: list[float]) -> float:
    return statistics.quantiles(gaps, n=100)[98] if len(gaps) >= 2 else 0.0


def _gaps(arrivals: list[list[float]], start: float, end: float) -> list[float]:
    return [
        b - a
        for times in arrivals
        for a, b in zip(times, times[1:], strict=False)
        if start <= a < end
    ]


def test_a_7_mib_prompt_leaves_other_streams_flowing(model_path, tmp_path):
    args = ("-c", "4096", "-np", "4", "--max-body-bytes", str(8 << 20))
    with smollm2_server(model_path, tmp_path / "log", *args) as srv:
        url = f"{srv.base_url}/v1/chat/completions"
        arrivals: list[list[float]] = [[], [], []]
        stop = threading.Event()
        threads = [threading.Thread(target=_stream_arrivals, args=(url, a, stop)) for a in arrivals]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while min(len(a) for a in arrivals) < 15 and time.monotonic() < deadline:
            time.sleep(0.05)  # the streams are flowing: a baseline of gaps to compare with
        big_start = time.monotonic()
        words = "lorem " * ((7 << 20) // 6)
        big = httpx.post(url, json={"messages": [{"role": "user", "content": words}]}, timeout=120)
        big_end = time.monotonic()
        counts = [len(a) for a in arrivals]
        while any(len(a) < n + 3 for a, n in zip(arrivals, counts, strict=True)):
            if time.monotonic() > deadline + 60:  # a few events after it, bounded
                break
            time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert big.status_code in (400, 413), big.text[:300]
    baseline = _p99(_gaps(arrivals, 0, big_start))
    during = _gaps(arrivals, big_start - 0.05, big_end + 0.05)
    print(
        f"gap p99 before {baseline * 1e3:.0f} ms, during the 7 MiB request "
        f"{_p99(during) * 1e3:.0f} ms (max {max(during, default=0) * 1e3:.0f} ms, "
        f"{len(during)} gaps, request {big_end - big_start:.2f} s)"
    )
    assert during, "the streams sent nothing while the big request was handled"
    # 100 ms on a quiet machine (the issue's bar); never worse than the streams' own pace
    assert _p99(during) < max(0.1, 1.5 * baseline)
