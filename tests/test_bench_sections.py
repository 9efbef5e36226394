"""bench/run.py regenerates RESULTS.md wholesale but keeps the sections below the marker
(the constrained-decoding and images sections written by other scripts)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import report  # noqa: E402
import run  # noqa: E402
import sections  # noqa: E402

IMAGES = "## Images (issue 20)"


def test_report_only_rerun_keeps_the_sections_below_the_marker(tmp_path: Path) -> None:
    for name in ("RESULTS.md", "results.json"):
        shutil.copy(BENCH / name, tmp_path / name)
    md = tmp_path / "RESULTS.md"
    md.write_text(sections.put_section(md.read_text(), IMAGES, "image rows here"))
    before = md.read_text()
    results = json.loads((tmp_path / "results.json").read_text())
    results["started"] = "a new run"
    run.write_report(results, tmp_path)  # what write_outputs writes before the plots
    after = md.read_text()
    assert after.startswith(report.render(results).rstrip("\n"))
    assert "a new run" in after and "a new run" not in before
    assert after.count(sections.MARKER) == 1
    assert sections.kept(after) == sections.kept(before)
    kept = sections.kept(after)
    assert "## Constrained decoding (issue 14)" in kept and "image rows here" in kept


def test_put_section_replaces_its_own_section_and_appends_a_new_one() -> None:
    text = f"generated\n\n{sections.MARKER}\n\n## A\n\na body\n\n{IMAGES}\n\nold\n\n## Z\n\nz\n"
    once = sections.put_section(text, IMAGES, "new rows")
    assert "old" not in once and "new rows" in once
    assert once.index("## A") < once.index(IMAGES) < once.index("## Z")  # in place
    assert sections.put_section(once, IMAGES, "new rows") == once
    added = sections.put_section(f"generated\n\n{sections.MARKER}\n\n## A\n\na\n", IMAGES, "x")
    assert added.endswith(f"## A\n\na\n\n{IMAGES}\n\nx\n")
    bare = sections.put_section("generated\n", IMAGES, "x")  # no marker yet: added
    assert sections.kept(bare) == f"{sections.MARKER}\n\n{IMAGES}\n\nx\n"
    assert sections.with_kept("fresh\n", "") == f"fresh\n\n{sections.MARKER}\n"
