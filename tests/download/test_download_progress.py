"""The three progress reporters, fed the same calls."""

from __future__ import annotations

import io
import json

from freehold.download.progress import JsonReporter, Reporter, RichReporter, make_reporter


def feed(reporter: Reporter) -> None:
    reporter.note("resolved", "acme/x: Q4_K_M", quant="Q4_K_M")
    reporter.start("x.gguf", 1000, offset=200)
    for _ in range(80):
        reporter.advance("x.gguf", 10)
    reporter.finish("x.gguf")
    reporter.close()


def test_plain_lines_every_tenth() -> None:
    out = io.StringIO()
    feed(Reporter(out))
    lines = out.getvalue().splitlines()
    assert lines[0] == "acme/x: Q4_K_M"
    assert lines[1] == "downloading x.gguf (1.0 KB, resuming at 200 B)"
    percents = [int(line.split()[1].rstrip("%")) for line in lines[2:]]
    assert percents == [30, 40, 50, 60, 70, 80, 90, 100]
    assert lines[-1].endswith(", done") and "ETA" in lines[-1]


def test_json_lines() -> None:
    out = io.StringIO()
    feed(JsonReporter(out))
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert events[0] == {"event": "resolved", "message": "acme/x: Q4_K_M", "quant": "Q4_K_M"}
    assert events[1] == {"event": "download_start", "file": "x.gguf", "total": 1000, "offset": 200}
    progress = [e["completed"] for e in events if e["event"] == "progress"]
    assert progress == list(range(210, 1001, 10))  # every 1 % of the file
    assert events[-1] == {"event": "download_done", "file": "x.gguf", "completed": 1000,
                          "total": 1000}  # fmt: skip


def test_rich_bar_shows_size() -> None:
    out = io.StringIO()
    feed(RichReporter(out))
    text = out.getvalue()
    assert "acme/x: Q4_K_M" in text and "x.gguf" in text and "1.0/1.0 kB" in text


def test_not_a_tty_means_plain_lines() -> None:
    assert type(make_reporter()) is Reporter  # pytest's stderr is not a terminal
    assert isinstance(make_reporter(json_lines=True), JsonReporter)
