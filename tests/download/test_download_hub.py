"""Pulls through the real huggingface_hub client against the local hub (HF_ENDPOINT)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from freehold.download.progress import JsonReporter
from freehold.download.pull import PullOptions, pull
from freehold.errors import FreeholdError
from freehold.models.store import Store

from .dl_helpers import REAL_NAME, REAL_REPO, cli
from .hub_data import GOOD_TOKEN, NO_ACCESS_TOKEN
from .hub_server import HubServer


def store_dir() -> Path:
    return Path(os.environ["FREEHOLD_MODELS_DIR"])


def store_content() -> list[Path]:
    """Everything in the store but its lock files."""
    root = store_dir()
    return [p for p in root.rglob("*") if ".locks" not in p.parts] if root.exists() else []


def manifest_of(path: Path) -> dict:
    return json.loads((path.parent / "manifest.json").read_text())


def cdn_gets(hub: HubServer) -> list[dict]:
    return [r for r in hub.state.requests if r["path"].startswith("/cdn/") and r["method"] == "GET"]


def served_file(hub: HubServer, repo: str, name: str):  # noqa: ANN201
    return hub.state.repos[repo].files[name]


def test_pull_exact_quant_verifies_and_records(hub: HubServer) -> None:
    status, out, err = cli("pull", "acme/tiny-GGUF:Q4_K_M")
    assert status == 0, err
    path = Path(out.strip())
    served = served_file(hub, "acme/tiny-GGUF", "tiny-Q4_K_M.gguf")
    assert path.read_bytes() == served.source.read_bytes()
    manifest = manifest_of(path)
    assert manifest["repo"] == "acme/tiny-GGUF"
    assert manifest["commit"] == hub.state.repos["acme/tiny-GGUF"].commit
    assert manifest["quant"] == "Q4_K_M" and manifest["verified"] is True
    assert manifest["files"] == [
        {"path": "tiny-Q4_K_M.gguf", "file": "tiny-Q4_K_M.gguf", "size": served.size,
         "sha256": served.sha256}
    ]  # fmt: skip
    assert not list(path.parent.glob("*.part"))


@pytest.mark.parametrize(
    ("ref", "file"),
    [
        ("hf.co/acme/tiny-GGUF:q4_k_m", "tiny-Q4_K_M.gguf"),
        ("acme/tiny-GGUF/tiny-Q5_K_M.gguf", "tiny-Q5_K_M.gguf"),
        ("https://huggingface.co/acme/tiny-GGUF/resolve/main/tiny-Q8_0.gguf", "tiny-Q8_0.gguf"),
        ("{url}/acme/tiny-GGUF/resolve/main/tiny-F16.gguf", "tiny-F16.gguf"),
        ("acme/tiny-GGUF", "tiny-Q4_K_M.gguf"),
    ],
)
def test_ref_forms_pull_the_right_file(hub: HubServer, ref: str, file: str) -> None:
    status, out, err = cli("pull", ref.format(url=hub.url))
    assert status == 0, err
    path = Path(out.strip())
    assert path.name == file
    assert path.read_bytes() == served_file(hub, "acme/tiny-GGUF", file).source.read_bytes()
    assert cli("list")[1].count(str(path)) == 1


def test_revision_ref_records_the_revision_commit(hub: HubServer) -> None:
    status, out, err = cli("pull", "acme/tiny-GGUF@v1:Q2_K")
    assert status == 0, err
    manifest = manifest_of(Path(out.strip()))
    assert manifest["commit"] == "b" * 40 and manifest["revision"] == "v1"
    assert manifest["name"] == "acme/tiny-GGUF@v1:Q2_K"
    status, _, err = cli("pull", "acme/tiny-GGUF@nope:Q2_K")
    assert status == 1 and "has no revision 'nope'" in err


def test_alias_pulls_the_real_gguf_once(hub: HubServer) -> None:
    status, out, err = cli("pull", "smollm2:135m")
    assert status == 0, err
    path = Path(out.strip())
    served = served_file(hub, REAL_REPO, REAL_NAME)
    assert path.name == REAL_NAME and path.stat().st_size == served.size
    assert manifest_of(path)["files"][0]["sha256"] == served.sha256
    assert manifest_of(path)["aliases"] == ["smollm2:135m"]
    hub.state.reset()
    for again in ("smollm2-135m", f"{REAL_REPO}:Q4_1"):
        status, out2, _ = cli("pull", again)
        assert status == 0 and out2 == out
    assert hub.state.requests == []  # found in the store: the hub was not asked


def test_local_gguf_is_imported_without_a_copy(hub: HubServer, tmp_path: Path) -> None:
    source = served_file(hub, "acme/tiny-GGUF", "tiny-Q3_K_M.gguf").source
    local = tmp_path / "mine-Q3_K_M.gguf"
    local.write_bytes(source.read_bytes())
    status, out, err = cli("pull", str(local))
    assert status == 0, err
    stored = Path(out.strip())
    assert stored != local and stored.stat().st_ino == local.stat().st_ino  # a hard link
    assert manifest_of(stored)["source"] == "local"
    assert cli("rm", "mine-Q3_K_M")[0] == 0
    assert not stored.exists() and local.exists()
    assert hub.state.requests == []


def test_split_gguf_pulls_every_shard(hub: HubServer) -> None:
    status, out, err = cli("pull", "acme/split-GGUF:q4_k_m")
    assert status == 0, err
    first = Path(out.strip())
    assert first.name == "big-Q4_K_M-00001-of-00003.gguf"
    names = [f["file"] for f in manifest_of(first)["files"]]
    assert names == [f"big-Q4_K_M-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    for name in names:
        served = served_file(hub, "acme/split-GGUF", f"Q4_K_M/{name}")
        assert (first.parent / name).read_bytes() == served.source.read_bytes()


def test_disk_space_is_checked_before_any_transfer(hub: HubServer) -> None:
    status, _, err = cli("pull", "acme/huge-GGUF:Q4_K_M")
    assert status == 1
    assert "not enough disk space" in err and str(1 << 60) in err
    free = int(err.split("only ")[1].split("(")[1].split(" bytes")[0])
    assert 0 < free < 1 << 60
    assert cdn_gets(hub) == [] and store_content() == []


@pytest.mark.parametrize(
    ("ref", "name"),
    [("acme/tiny-GGUF:Q8_0", "tiny-Q8_0.gguf"), ("acme/tiny-GGUF:IQ2_XS", "tiny-IQ2_XS.gguf")],
)
def test_corrupted_bytes_fail_and_leave_nothing(hub: HubServer, ref: str, name: str) -> None:
    served = served_file(hub, "acme/tiny-GGUF", name)
    hub.state.modes.corrupt.add(served.sha256)
    status, _, err = cli("pull", ref)
    assert status == 1 and "checksum mismatch" in err
    assert store_content() == []
    assert "no models" in cli("list")[1]
    hub.state.modes.corrupt.clear()
    status, out, err = cli("pull", ref)
    assert status == 0, err
    assert Path(out.strip()).read_bytes() == served.source.read_bytes()
    assert manifest_of(Path(out.strip()))["verified"] is True


def python_pull(ref: str, **options: object) -> tuple[Path, list[dict]]:
    events = io.StringIO()
    store = Store(store_dir())
    manifest = pull(ref, store, JsonReporter(events), PullOptions(backoff=0.01, **options))
    return store.model_path(manifest), [json.loads(x) for x in events.getvalue().splitlines()]


def test_dropped_connection_resumes(hub: HubServer) -> None:
    served = served_file(hub, "acme/big-GGUF", "big-Q4_K_M.gguf")
    hub.state.modes.drop = [1 << 20, 3 << 20]
    path, _ = python_pull("acme/big-GGUF:Q4_K_M")
    assert path.read_bytes() == served.source
    ranges = [r["range"] for r in cdn_gets(hub)]
    assert len(ranges) == 3 and ranges[0] is None
    assert all(int(r.split("=")[1].rstrip("-")) > 0 for r in ranges[1:])
    assert hub.state.served[served.sha256] < 1.2 * served.size


def test_reset_connection_is_retried_with_backoff(hub: HubServer) -> None:
    served = served_file(hub, "acme/big-GGUF", "big-Q4_K_M.gguf")
    hub.state.modes.reset = [1 << 20, 2 << 20]
    path, events = python_pull("acme/big-GGUF:Q4_K_M")
    assert path.read_bytes() == served.source
    retries = [e for e in events if e["event"] == "retry"]
    assert [e["attempt"] for e in retries] == [2, 3]
    assert all("ReadError" in e["message"] for e in retries)  # a reset, not a clean close
    assert retries[1]["delay"] == 2 * retries[0]["delay"]
    # a RST discards what sat unread in the client's socket buffer: only what reached the
    # partial file is kept, and the last request starts from there
    last = cdn_gets(hub)[-1]["range"] or "bytes=0-"
    kept = int(last.removeprefix("bytes=").rstrip("-"))
    assert hub.state.served[served.sha256] == (1 << 20) + (2 << 20) + served.size - kept


def test_gives_up_after_attempts_then_resumes_next_time(hub: HubServer) -> None:
    served = served_file(hub, "acme/big-GGUF", "big-Q4_K_M.gguf")
    hub.state.modes.drop = [512 << 10] * 3
    with pytest.raises(FreeholdError, match="failed after 3 attempt"):
        python_pull("acme/big-GGUF:Q4_K_M", attempts=3)
    partials = list(store_dir().glob("*/*.part"))
    assert len(partials) == 1
    kept = partials[0].stat().st_size
    assert kept == 3 * (512 << 10)  # every byte that arrived was kept
    path, _ = python_pull("acme/big-GGUF:Q4_K_M")
    assert path.read_bytes() == served.source
    assert cdn_gets(hub)[-1]["range"] == f"bytes={kept}-"
    assert hub.state.served[served.sha256] == 3 * (512 << 10) + served.size - kept


def test_offline_never_touches_the_network(hub: HubServer, monkeypatch) -> None:  # noqa: ANN001
    status, _, err = cli("pull", "--offline", "acme/tiny-GGUF:Q4_K_M")
    assert status == 1 and "not in the store" in err
    assert "run `freehold pull acme/tiny-GGUF:Q4_K_M`" in err
    assert hub.state.requests == []
    assert os.environ["HF_HUB_OFFLINE"] == "1"  # set for huggingface_hub too, not just skipped
    import huggingface_hub.constants

    assert huggingface_hub.constants.HF_HUB_OFFLINE is True
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # back online for this process
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    assert cli("pull", "acme/tiny-GGUF:Q4_K_M")[0] == 0
    hub.state.reset()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    status, out, _ = cli("pull", "acme/tiny-GGUF:Q4_K_M")
    assert status == 0 and out.strip().endswith("tiny-Q4_K_M.gguf")
    status, _, err = cli("pull", "acme/tiny-GGUF:Q8_0")
    assert status == 1 and "not in the store" in err
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("FREEHOLD_OFFLINE", "1")  # the Settings spelling
    status, _, err = cli("pull", "acme/tiny-GGUF:Q5_K_M")
    assert status == 1 and "not in the store" in err
    assert hub.state.requests == []


def test_gated_repo_messages_and_token(hub: HubServer, monkeypatch) -> None:  # noqa: ANN001
    status, _, err = cli("pull", "acme/gated-GGUF:Q4_K_M")
    assert status == 1
    assert "acme/gated-GGUF is gated" in err and "--token or HF_TOKEN" in err
    status, _, err = cli("pull", "acme/gated-GGUF:Q4_K_M", "--token", NO_ACCESS_TOKEN)
    assert status == 1 and "your token has no access" in err
    assert [r["auth"] for r in hub.state.requests if "/resolve/" in r["path"]] == [
        None,
        f"Bearer {NO_ACCESS_TOKEN}",
    ]
    monkeypatch.setenv("HF_TOKEN", GOOD_TOKEN)
    status, out, err = cli("pull", "acme/gated-GGUF:Q4_K_M")
    assert status == 0, err
    assert cdn_gets(hub) and all(r["auth"] is None for r in cdn_gets(hub))  # never to the CDN


def test_private_and_missing_repos(hub: HubServer) -> None:
    status, _, err = cli("pull", "acme/private-GGUF:Q4_K_M")
    assert status == 1 and "not found on the hub, or it is private" in err
    status, out, err = cli("pull", "acme/private-GGUF:Q4_K_M", "--token", GOOD_TOKEN)
    assert status == 0, err
    status, _, err = cli("pull", "acme/nothing-here")
    assert status == 1 and "acme/nothing-here was not found" in err
    assert "Traceback" not in err


def test_quant_errors_list_what_the_repo_offers(hub: HubServer) -> None:
    status, _, err = cli("pull", "acme/tiny-GGUF:Q6_K")
    assert status == 1 and "acme/tiny-GGUF has no Q6_K quant" in err
    for line in ("Q2_K", "Q4_K_M", "Q8_0", "IQ2_XS", "tiny-F16.gguf", "KB"):
        assert line in err
    assert "mmproj" not in err
    status, _, err = cli("pull", "acme/ambiguous-GGUF:Q4_K_M")
    assert status == 1 and "ambiguous" in err and "beta-Q4_K_M.gguf" in err
    status, _, err = cli("pull", "acme/empty")
    assert status == 1 and "no .gguf files" in err
    status, _, err = cli("pull", "acme/tiny-GGUF/nope-Q4_K_M.gguf")
    assert status == 1 and "has no file nope-Q4_K_M.gguf" in err
    assert cdn_gets(hub) == []


def test_auto_pick_says_what_and_why(hub: HubServer) -> None:
    status, _, err = cli("pull", "acme/tiny-GGUF", "--ctx-size", "4096")
    assert status == 0
    assert "Q4_K_M" in err and "first of the preferred quants that fits" in err
    status, _, err = cli("pull", "acme/split-GGUF", "--ctx-size", str(10**9))
    assert status == 1 and "no quant of acme/split-GGUF fits" in err


def test_json_lines_progress(hub: HubServer) -> None:
    status, out, err = cli("pull", "--json", "--no-mmproj", "acme/tiny-GGUF:F16")
    assert status == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "resolved" and kinds[-2:] == ["done", "result"]
    assert "projector" not in kinds and events[-1]["mmproj"] is None
    assert kinds.index("download_start") < kinds.index("progress") < kinds.index("download_done")
    progress = [e for e in events if e["event"] == "progress"]
    assert progress[-1]["completed"] == progress[-1]["total"] == events[0]["size"]
    done = [e["completed"] for e in progress]
    assert done == sorted(set(done))
    status, out, _ = cli("pull", "--json", "acme/tiny-GGUF:Q6_K")
    assert status == 1 and json.loads(out)["code"] == "quant_not_found"


def test_xet_backed_file_comes_through_the_resolve_redirect(hub: HubServer) -> None:
    status, out, err = cli("pull", "acme/xet-GGUF:Q4_K_M")
    assert status == 0, err
    served = served_file(hub, "acme/xet-GGUF", "xet-Q4_K_M.gguf")
    assert Path(out.strip()).read_bytes() == served.source.read_bytes()
    assert [r["path"] for r in cdn_gets(hub)] == [f"/cdn/{served.sha256}"]


def test_unreachable_hub(hub: HubServer, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    status, _, err = cli("pull", "acme/tiny-GGUF:Q4_K_M")
    assert status == 1 and "cannot reach the hub at http://127.0.0.1:9" in err


def test_two_pulls_at_once_transfer_the_file_once(hub: HubServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    served = served_file(hub, "acme/big-GGUF", "big-Q4_K_M.gguf")
    hub.state.modes.throttle = 20_000_000
    with ThreadPoolExecutor(2) as pool:
        paths = list(pool.map(lambda _: python_pull("acme/big-GGUF:Q4_K_M")[0], range(2)))
    assert paths[0] == paths[1] and paths[0].read_bytes() == served.source
    assert hub.state.served[served.sha256] == served.size
