"""`freehold pull` fetches a repo's vision projector (mmproj-*.gguf) beside the weights:
which one (the rule), verified, resumed, skipped with --no-mmproj, added by a later pull,
and handed to the server when the model is served by its store name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from freehold.config import ModelConfig, Settings
from freehold.download.projector import pick_projector
from freehold.download.quants import HubFile, QuantSet
from freehold.errors import FreeholdError
from freehold.models import lineup
from freehold.models.resolve import locate
from freehold.server import _projector

from .dl_helpers import cli
from .hub_server import HubServer
from .test_download_hub import cdn_gets, manifest_of, python_pull, served_file, store_dir

REPO = "acme/vision-GGUF"


def weights(path: str, quant: str | None) -> QuantSet:
    return QuantSet(quant, (HubFile(path, 100),))


def picked(names: list[str], weights_path: str = "m-Q4_K_M.gguf", quant: str = "Q4_K_M") -> str:
    files = [HubFile(n, 10 + i) for i, n in enumerate(names)]
    found = pick_projector(files, weights(weights_path, quant))
    return found[0].path if found else ""


def test_projector_rule() -> None:
    both = ["mmproj-F32.gguf", "mmproj-F16.gguf", "mmproj-BF16.gguf", "mmproj-Q8_0.gguf"]
    assert picked(["m-Q4_K_M.gguf", "README.md"]) == ""  # no projector
    assert picked(["mmproj-model-f32.gguf"]) == "mmproj-model-f32.gguf"  # the only one
    assert picked(both) == "mmproj-F16.gguf"  # F16 comes first
    assert picked(both, "m-BF16.gguf", "BF16") == "mmproj-BF16.gguf"  # same precision
    assert picked(both, "m-Q8_0.gguf", "Q8_0") == "mmproj-Q8_0.gguf"
    assert picked(both, "m-F32.gguf", "F32") == "mmproj-F32.gguf"
    assert picked(["mmproj-F32.gguf", "mmproj-BF16.gguf"]) == "mmproj-BF16.gguf"
    assert picked(["MMPROJ-a.gguf", "mmproj-b.gguf"]) == "MMPROJ-a.gguf"  # smallest, any case
    # a projector in the weights' folder wins over one elsewhere
    nested = ["Q4_K_M/mmproj-F32.gguf", "mmproj-F16.gguf"]
    assert picked(nested, "Q4_K_M/m-Q4_K_M.gguf") == "Q4_K_M/mmproj-F32.gguf"
    assert picked(nested, "m-Q4_K_M.gguf") == "mmproj-F16.gguf"


def test_pull_fetches_the_projector_beside_the_weights(hub: HubServer) -> None:
    status, out, err = cli("pull", "--json", f"{REPO}:Q4_K_M")
    assert status == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    projector = served_file(hub, REPO, "mmproj-vis-F16.gguf")
    note = next(e for e in events if e["event"] == "projector")
    assert note["file"] == "mmproj-vis-F16.gguf" and "F16 comes first" in note["reason"]
    assert {e["file"] for e in events if e["event"] == "download_done"} >= {"mmproj-vis-F16.gguf"}
    result = events[-1]
    path, mmproj = Path(result["path"]), Path(result["mmproj"])
    assert mmproj.parent == path.parent and mmproj.read_bytes() == projector.source.read_bytes()
    manifest = manifest_of(path)
    assert manifest["mmproj"]["sha256"] == projector.sha256 and manifest["verified"] is True
    assert [f["file"] for f in manifest["files"]] == ["vis-Q4_K_M.gguf"]
    # the other projectors were never fetched
    others = [
        served_file(hub, REPO, n).sha256 for n in ("mmproj-vis-F32.gguf", "mmproj-vis-BF16.gguf")
    ]
    assert all(hub.state.served[sha] == 0 for sha in others)
    assert "vision projector:  mmproj-vis-F16.gguf" in cli("show", f"{REPO}:Q4_K_M")[1]


def test_the_weights_precision_picks_its_projector(hub: HubServer) -> None:
    status, out, err = cli("pull", f"{REPO}:BF16")
    assert status == 0, err
    assert manifest_of(Path(out.strip()))["mmproj"]["file"] == "mmproj-vis-BF16.gguf"
    assert "its precision matches the weights (BF16)" in err


def test_no_mmproj_skips_it_and_a_later_pull_adds_it(hub: HubServer) -> None:
    projector = served_file(hub, REPO, "mmproj-vis-F16.gguf")
    weights_file = served_file(hub, REPO, "vis-Q4_K_M.gguf")
    status, out, err = cli("pull", "--no-mmproj", f"{REPO}:Q4_K_M")
    assert status == 0, err
    path = Path(out.strip())
    assert manifest_of(path)["mmproj"] is None and "projector" not in err
    assert hub.state.served[projector.sha256] == 0
    assert not (path.parent / "mmproj-vis-F16.gguf").exists()
    status, out, err = cli("pull", "--no-mmproj", f"{REPO}:Q4_K_M")  # still skipped
    assert status == 0 and hub.state.served[projector.sha256] == 0
    status, out, err = cli("pull", f"{REPO}:Q4_K_M")
    assert status == 0, err
    assert "already in the store" in err and "vision projector mmproj-vis-F16.gguf" in err
    assert manifest_of(path)["mmproj"]["sha256"] == projector.sha256
    assert hub.state.served[projector.sha256] == projector.size
    assert hub.state.served[weights_file.sha256] == weights_file.size  # weights not refetched
    hub.state.reset()
    assert cli("pull", f"{REPO}:Q4_K_M")[0] == 0
    assert hub.state.requests == []  # complete now: no network


def test_corrupt_projector_is_refused_then_repaired(hub: HubServer) -> None:
    projector = served_file(hub, REPO, "mmproj-vis-F16.gguf")
    weights_file = served_file(hub, REPO, "vis-Q4_K_M.gguf")
    hub.state.modes.corrupt.add(projector.sha256)
    with pytest.raises(FreeholdError, match="checksum mismatch"):
        python_pull(f"{REPO}:Q4_K_M")
    assert "no models" in cli("list")[1]  # no entry without its verified projector
    hub.state.modes.corrupt.clear()
    path, _ = python_pull(f"{REPO}:Q4_K_M")
    assert (path.parent / "mmproj-vis-F16.gguf").read_bytes() == projector.source.read_bytes()
    assert hub.state.served[weights_file.sha256] == weights_file.size  # kept from the first try


def test_dropped_projector_transfer_resumes(hub: HubServer) -> None:
    projector = served_file(hub, REPO, "mmproj-vis-F16.gguf")
    hub.state.modes.drop = [1 << 30, 4_000]  # the weights whole, the projector cut short
    path, events = python_pull(f"{REPO}:Q4_K_M")
    assert (path.parent / "mmproj-vis-F16.gguf").read_bytes() == projector.source.read_bytes()
    assert [r["range"] for r in cdn_gets(hub)] == [None, None, "bytes=4000-"]
    assert [e["file"] for e in events if e["event"] == "retry"] == ["mmproj-vis-F16.gguf"]


def test_served_by_store_name_the_model_gets_its_projector(hub: HubServer) -> None:
    ref = f"{REPO}:Q4_K_M"
    assert cli("pull", ref)[0] == 0
    found = locate(ref, models_dir=store_dir(), offline=True)
    assert found.mmproj is not None and found.mmproj.name == "mmproj-vis-F16.gguf"
    assert found.mmproj.parent == found.path.parent
    settings = Settings(models_dir=store_dir())
    stored = lineup.store_models(settings, [])
    assert [(p.id, p.mmproj) for p in stored] == [(ref, found.mmproj)]


def test_which_projector_a_served_model_gets(tmp_path: Path) -> None:
    pulled, given, named = tmp_path / "pulled.gguf", tmp_path / "given.gguf", tmp_path / "n.gguf"
    first = lineup.Planned("a", "a", mmproj=pulled)
    second = lineup.Planned("b", "b", mmproj=pulled)
    yaml = lineup.Planned("c", "c", overrides=ModelConfig(model="c", mmproj=named).overrides())
    plain = lineup.Planned("d", "d")
    assert _projector(first, 0, Settings())["mmproj"] == pulled  # the stored one
    assert _projector(first, 0, Settings(mmproj=given))["mmproj"] == given  # --mmproj wins
    assert _projector(second, 1, Settings(mmproj=given))["mmproj"] == pulled  # not the first's
    assert _projector(yaml, 0, Settings(mmproj=given))["mmproj"] == named  # its YAML key
    assert _projector(plain, 1, Settings(mmproj=given))["mmproj"] is None
