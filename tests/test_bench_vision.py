"""bench/vision_probes.py: which of a stream's gaps count as stalled by a probe."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from vision_probes import Probe, StallRound  # noqa: E402


def test_gaps_overlapping_each_arms_windows() -> None:
    times = [0.0, 1.0, 2.0, 5.0, 6.0, 7.0, 7.5, 10.0, 11.0]
    round_ = StallRound({"image": [(2.5, 4.0)], "text": [(7.2, 9.0)]}, times=times)
    assert round_.gaps("image") == [3.0]  # 2 → 5 holds the image's prefill
    assert round_.gaps("text") == [0.5, 2.5]  # 7 → 7.5 and 7.5 → 10 overlap 7.2–9
    assert round_.gaps(None) == [1.0, 1.0, 1.0, 1.0, 1.0]  # the rest


def test_both_arms_have_the_same_prefix_and_distinct_nonces() -> None:
    probe = Probe("m", 64, filler=3)
    text, image = probe.messages("text", 7), probe.messages("image", 7)
    assert text[0]["content"] == "Q0007 Describe it.\n the the the"
    assert image[0]["content"][0]["text"] == "Q0007 Describe it."
    url = image[0]["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert url != probe.messages("image", 8)[0]["content"][1]["image_url"]["url"]
