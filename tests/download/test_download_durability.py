"""A pull that fails keeps what it verified; what the store renames reached the disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from freehold.models.store import Manifest, Store, StoredFile

from .dl_helpers import cli
from .hub_server import HubServer
from .test_download_hub import cdn_gets, served_file, store_dir

SPLIT = "acme/split-GGUF:Q4_K_M"
SHARD = "Q4_K_M/big-Q4_K_M-0000{}-of-00003.gguf"


def test_a_bad_shard_leaves_the_verified_shards_for_the_next_pull(hub: HubServer) -> None:
    bad = served_file(hub, "acme/split-GGUF", SHARD.format(3))
    hub.state.modes.corrupt.add(bad.sha256)
    status, _, err = cli("pull", SPLIT)
    assert status == 1 and "checksum mismatch" in err
    kept = sorted(p.name for p in store_dir().rglob("*.gguf"))
    assert kept == ["big-Q4_K_M-00001-of-00003.gguf", "big-Q4_K_M-00002-of-00003.gguf"]
    assert "no models" in cli("list")[1], "an unfinished pull is not an entry"
    hub.state.modes.corrupt.clear()
    before = len(cdn_gets(hub))
    status, _, err = cli("pull", SPLIT)
    assert status == 0, err
    again = [g["path"] for g in cdn_gets(hub)[before:]]
    assert again == [f"/cdn/{bad.sha256}"], "only the bad shard is fetched again"


def test_the_manifest_is_on_disk_before_it_takes_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(f"fsync {os.readlink(f'/proc/self/fd/{fd}')}")
        real_fsync(fd)

    def replace(src: str | Path, dest: str | Path) -> None:
        events.append(f"replace {src} {dest}")
        real_replace(src, dest)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    store = Store(tmp_path)
    manifest = Manifest(name="m", files=[StoredFile(path="m.gguf", file="m.gguf", size=1)])
    path = store.save(manifest)
    tmp = f"{path}.tmp"
    assert events == [f"fsync {tmp}", f"replace {tmp} {path}", f"fsync {path.parent}"]
