"""`freehold pull /path/model.gguf`: local files are told apart by path, never by name;
store folder names never collide."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from freehold.models.store import Store, slug

from .dl_helpers import cli, make_gguf


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Store:
    monkeypatch.setenv("FREEHOLD_MODELS_DIR", str(tmp_path / "store"))
    return Store(Path(os.environ["FREEHOLD_MODELS_DIR"]))


def pulled(path: Path) -> dict[str, object]:
    status, out, err = cli("pull", "--json", str(path))
    assert status == 0, err
    return json.loads(out.splitlines()[-1])


def test_two_files_with_one_name_get_two_entries(store: Store, tmp_path: Path) -> None:
    a = make_gguf((tmp_path / "a").mkdir() or tmp_path / "a" / "model.gguf", pad=64)
    b = make_gguf((tmp_path / "b").mkdir() or tmp_path / "b" / "model.gguf", pad=128)
    first, second, again = pulled(a), pulled(b), pulled(a)
    entries = {m.name: m for m in store.entries()}
    assert len(entries) == 2
    served = {name: store.model_path(m).read_bytes() for name, m in entries.items()}
    assert sorted(served.values()) == sorted([a.read_bytes(), b.read_bytes()])
    assert store.model_path(store.find(str(b))).read_bytes() == b.read_bytes()  # type: ignore[arg-type]
    assert store.model_path(store.find(str(a))).read_bytes() == a.read_bytes()  # type: ignore[arg-type]
    assert first != second and again == first


def test_store_folder_names_are_one_per_model_name() -> None:
    assert slug("a/b--c:Q4") != slug("a--b/c:Q4")
    assert slug("a/b:c") != slug("a:b/c") != slug("a/b/c")
    assert slug("owner/repo:Q4_K_M") == "owner--repo--Q4_K_M"  # readable where it can be
    assert slug("model") == "model" and slug("model-2") == "model-2"
    names = ["x/y:z", "x/y/z", "x--y/z", "x/y--z", "x@y:z", "x y:z", "x/y:z.", "-x/y:z"]
    assert len({slug(n) for n in names}) == len(names)
