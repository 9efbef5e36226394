"""A pulled model serves through `freehold serve --model REF` (real SmolLM2 GGUF)."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest
from realserver import running_server

from .dl_helpers import REAL_NAME, REAL_REPO, VISION_REPO, cli
from .hub_server import HubServer

pytestmark = pytest.mark.real


def test_pulled_model_serves_offline(hub: HubServer, tmp_path: Path) -> None:
    status, _, err = cli("pull", "smollm2:135m")
    assert status == 0, err
    hub.state.reset()
    with running_server(["--model", "smollm2:135m", "--offline"], tmp_path / "serve.log") as srv:
        assert srv.health().status_code == 200
        models = httpx.get(f"{srv.base_url}/v1/models", timeout=10).json()
        assert [m["id"] for m in models["data"]] == ["smollm2:135m"]
    assert hub.state.requests == []  # served from the store, the hub never asked


def test_serve_pulls_a_missing_model_first(hub: HubServer, tmp_path: Path) -> None:
    ref = f"{REAL_REPO}:Q4_1"
    with running_server(["--model", ref], tmp_path / "serve.log") as srv:
        assert srv.health().status_code == 200
        models = httpx.get(f"{srv.base_url}/v1/models", timeout=10).json()
        assert [m["id"] for m in models["data"]] == [ref]
    served = hub.state.repos[REAL_REPO].files[REAL_NAME]
    assert hub.state.served[served.sha256] == served.size
    assert cli("list")[1].count(REAL_NAME) == 1


def test_pulled_projector_serves_images(hub: HubServer, tmp_path: Path) -> None:
    """A repo with weights and an mmproj: one pull, then the store name serves images."""
    from mmproj_gguf import IMAGE_TOKENS
    from test_real_vision import RED

    ref = f"{VISION_REPO}:Q4_1"
    status, out, err = cli("pull", ref)
    assert status == 0 and "vision projector mmproj-F16.gguf" in err, err
    args = ["--model", ref, "--offline", "-t", "1", "-c", "1024", "-np", "1"]
    with running_server(args, tmp_path / "serve.log") as srv:
        client = openai.OpenAI(base_url=f"{srv.base_url}/v1", api_key="x", max_retries=0)
        assert client.models.list().data[0].model_extra["meta"]["vision"] is True

        def prompt_tokens(*images: str) -> int:
            parts = [{"type": "text", "text": "Look."}]
            parts += [{"type": "image_url", "image_url": {"url": url}} for url in images]
            answer = client.chat.completions.create(
                model=ref, messages=[{"role": "user", "content": parts}], max_tokens=1
            )
            return answer.usage.prompt_tokens

        assert prompt_tokens(RED) - prompt_tokens() == IMAGE_TOKENS + 1  # + the "\n" joining parts
