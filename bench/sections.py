"""The part of RESULTS.md that bench/run.py does not own: everything from MARKER on.

run.py regenerates the file wholesale from results.json; sections written by hand or by
other scripts (bench/constrained.py's, bench/vision.py's) live below MARKER and are
carried over. ``put_section`` replaces (or appends) one ``## `` section there.
"""

from __future__ import annotations

MARKER = (
    "<!-- Below this line: sections bench/run.py keeps as they are "
    "(written by hand or by other bench scripts). -->"
)


def kept(old: str) -> str:
    """Everything from MARKER on in ``old`` (the file as it was), or ``""``."""
    at = old.find(MARKER)
    return old[at:].rstrip("\n") + "\n" if at >= 0 else ""


def with_kept(new: str, old: str) -> str:
    """The freshly rendered ``new`` followed by ``old``'s kept sections."""
    tail = kept(old) or MARKER + "\n"
    return new.rstrip("\n") + "\n\n" + tail


def put_section(text: str, heading: str, body: str) -> str:
    """``text`` with the kept section titled ``heading`` (a ``## `` line) set to ``body``:
    replaced where it is, else appended after the other kept sections."""
    if MARKER not in text:
        text = text.rstrip("\n") + "\n\n" + MARKER + "\n"
    head, tail = text.split(MARKER, 1)
    lines = tail.strip("\n").split("\n") if tail.strip() else []
    section = [heading, "", *body.strip("\n").split("\n"), ""]
    if heading in lines:
        start = lines.index(heading)
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        lines[start:end] = section
    else:
        lines += ["", *section] if lines else section
    return head + MARKER + "\n\n" + "\n".join(lines).rstrip("\n") + "\n"
