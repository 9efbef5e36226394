"""The local hub's content: repos, files (real bytes), failure modes, request log."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GOOD_TOKEN = "hf_good_token"  # may read every repo
NO_ACCESS_TOKEN = "hf_no_access"  # a valid token that was not granted the gated repo
CHUNK = 64 * 1024


@dataclass
class FakeFile:
    source: bytes | Path
    lfs: bool = True
    declared_size: int | None = None  # list a size the server never serves (disk preflight)

    def __post_init__(self) -> None:
        digest256, digest1 = hashlib.sha256(), hashlib.sha1(f"blob {self.size}\0".encode())
        for block in self.blocks(0, self.size):
            digest256.update(block)
            digest1.update(block)
        self.sha256, self.blob_id = digest256.hexdigest(), digest1.hexdigest()

    @property
    def size(self) -> int:
        if isinstance(self.source, bytes):
            return len(self.source)
        return self.source.stat().st_size

    @property
    def listed_size(self) -> int:
        return self.declared_size if self.declared_size is not None else self.size

    def blocks(self, start: int, end: int) -> Any:
        if isinstance(self.source, bytes):
            for pos in range(start, end, CHUNK):
                yield self.source[pos : min(pos + CHUNK, end)]
            return
        with self.source.open("rb") as f:
            f.seek(start)
            pos = start
            while pos < end:
                block = f.read(min(CHUNK, end - pos))
                if not block:
                    return
                pos += len(block)
                yield block


@dataclass
class FakeRepo:
    repo_id: str
    files: dict[str, FakeFile]
    gated: bool = False
    private: bool = False
    xet: bool = False
    branches: dict[str, str] = field(default_factory=dict)  # extra revisions → commit

    @property
    def commit(self) -> str:
        return hashlib.sha1(self.repo_id.encode()).hexdigest()

    def resolve_revision(self, rev: str) -> str | None:
        if rev in ("main", self.commit):
            return self.commit
        if rev in self.branches:
            return self.branches[rev]
        return rev if rev in self.branches.values() else None


@dataclass
class Modes:
    corrupt: set[str] = field(default_factory=set)  # sha256 of files served corrupted
    throttle: float | None = None  # bytes per second
    drop: list[int] = field(default_factory=list)  # per CDN GET: close after N bytes
    reset: list[int] = field(default_factory=list)  # per CDN GET: RST after N bytes


class HubState:
    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.modes = Modes()
        self.requests: list[dict[str, Any]] = []
        self.served: Counter[str] = Counter()  # sha256 → body bytes sent
        self.watches: list[tuple[str, int, threading.Event]] = []
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.modes = Modes()
            self.requests.clear()
            self.served.clear()
            self.watches.clear()

    def watch(self, sha256: str, nbytes: int) -> threading.Event:
        """An event set once ``nbytes`` of the file have been sent."""
        event = threading.Event()
        with self.lock:
            self.watches.append((sha256, nbytes, event))
        return event

    def count(self, sha256: str, nbytes: int) -> None:
        with self.lock:
            self.served[sha256] += nbytes
            for key, threshold, event in self.watches:
                if key == sha256 and self.served[key] >= threshold:
                    event.set()

    def by_sha(self, sha256: str) -> FakeFile | None:
        for repo in self.repos.values():
            for f in repo.files.values():
                if f.sha256 == sha256:
                    return f
        return None
