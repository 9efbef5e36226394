"""Which vision projector (``mmproj-*.gguf``) of a repo goes with the chosen weights.

Pure functions over a repo's file listing: no network, no disk. The rule, in order:

1. only ``.gguf`` files whose name holds ``mmproj`` (any case) are projectors; those in
   the weights' own folder win over the others;
2. a single projector is taken as it is;
3. of several, the one whose precision label is the weights' quant (``BF16`` weights take
   ``mmproj-BF16``, ``Q8_0`` weights ``mmproj-Q8_0``);
4. else the first of F16, BF16, Q8_0, F32 (F16 is what llama.cpp's converter writes and
   what llama-server's ``-hf`` is usually handed; a quantized projector costs accuracy);
5. else the smallest file.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath

from freehold.download.quants import SHARD_RE, HubFile, QuantSet, quant_of

PREFERENCE = ("F16", "BF16", "Q8_0", "F32")


def is_projector(path: str) -> bool:
    name = PurePosixPath(path).name
    return name.lower().endswith(".gguf") and "mmproj" in name.lower() and not SHARD_RE.match(name)


def _near(candidates: list[HubFile], weights: QuantSet) -> list[HubFile]:
    folder = PurePosixPath(weights.first.path).parent
    beside = [f for f in candidates if PurePosixPath(f.path).parent == folder]
    return beside or candidates


def pick_projector(files: Iterable[HubFile], weights: QuantSet) -> tuple[HubFile, str] | None:
    """The projector to fetch beside ``weights`` and the reason, in words; None if the
    repo has none."""
    candidates = sorted((f for f in files if is_projector(f.path)), key=lambda f: f.path)
    if not candidates:
        return None
    candidates = _near(candidates, weights)
    if len(candidates) == 1:
        return candidates[0], "the repo's only projector"
    labels = {f.path: (quant_of(f.path) or "").removeprefix("UD-") for f in candidates}
    want = (weights.quant or "").removeprefix("UD-")
    same = [f for f in candidates if want and labels[f.path] == want]
    if same:
        return same[0], f"its precision matches the weights ({want})"
    for label in PREFERENCE:
        found = [f for f in candidates if labels[f.path] == label]
        if found:
            return found[0], f"{label} comes first of {', '.join(PREFERENCE)}"
    smallest = min(candidates, key=lambda f: (f.size, f.path))
    return smallest, "the smallest of the repo's projectors"
