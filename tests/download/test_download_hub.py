"""Pulls through the real huggingface_hub client against the local hub."""

from __future__ import annotations

import json
from pathlib import Path

from hub_server import HubServer


def test_pull_exact_quant(hub: HubServer, tmp_path: Path) -> None:
    from dl_helpers import cli

    status, out, err = cli("pull", "acme/tiny-GGUF:Q4_K_M")
    assert status == 0, err
    path = Path(out.strip())
    assert path.name == "tiny-Q4_K_M.gguf"
    print(err)
    manifest = json.loads((path.parent / "manifest.json").read_text())
    assert manifest["verified"] is True
