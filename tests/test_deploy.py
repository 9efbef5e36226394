"""Deployment files, offline and fast: Kubernetes manifests (kubernetes-validate, strict),
compose.yaml, the Dockerfile's contract, .dockerignore and the image's healthcheck script."""

from __future__ import annotations

import copy
import http.server
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from freehold.config import Settings

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "kubernetes"
K8S_VERSION = "1.37.0"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def manifest(kind: str) -> dict[str, Any]:
    found = [d for p in MANIFESTS for d in docs(p) if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n(\s*#[^\n]*\n)*", " ", (ROOT / "Dockerfile").read_text())
    stripped = (ln.strip() for ln in text.splitlines())
    lines = [ln for ln in stripped if ln and not ln.startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]


def instructions(name: str) -> list[str]:
    return [args for inst, args in dockerfile() if inst == name]


def pod_container() -> dict[str, Any]:
    return manifest("Deployment")["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_is_valid_kubernetes(path: Path) -> None:
    for doc in docs(path):
        assert kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_validator_rejects_a_misspelt_field() -> None:
    deployment = copy.deepcopy(manifest("Deployment"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_kustomization_lists_the_manifests() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in MANIFESTS} - {"pull-job.yaml"}


def test_probes_use_health_on_the_served_port() -> None:
    container = pod_container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8000}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe


def test_service_routes_to_the_deployment_pods() -> None:
    service, deployment = manifest("Service"), manifest("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_deployment_wires_the_store_and_the_api_key_secret() -> None:
    spec = manifest("Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in pod_container()["volumeMounts"]}
    claim = volumes["models"]["persistentVolumeClaim"]["claimName"]
    assert claim == manifest("PersistentVolumeClaim")["metadata"]["name"]
    assert mounts["models"] == "/models"
    secret = manifest("Secret")
    assert volumes["api-keys"]["secret"]["secretName"] == secret["metadata"]["name"]
    env = {e["name"]: e.get("value") for e in pod_container()["env"]}
    key_file = Path(env["FREEHOLD_API_KEY_FILE"])
    assert str(key_file.parent) == mounts["api-keys"]
    assert key_file.name in secret["stringData"]


def test_pods_run_as_the_image_user() -> None:
    uid = re.search(r"--uid (\d+)", " ".join(instructions("RUN")))
    assert uid is not None
    for kind in ("Deployment", "Job"):
        security = manifest(kind)["spec"]["template"]["spec"]["securityContext"]
        assert security["runAsUser"] == int(uid.group(1)), kind
        assert security["fsGroup"] == int(uid.group(1)), kind


def freehold_env_names() -> set[str]:
    names = {
        e["name"]
        for k in ("Deployment", "Job")
        for e in manifest(k)["spec"]["template"]["spec"]["containers"][0].get("env", [])
    }
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    names |= set(compose["x-freehold"]["environment"])
    names |= set(re.findall(r"\b(FREEHOLD_\w+)=", " ".join(instructions("ENV"))))
    return {n for n in names if n.startswith("FREEHOLD_")}


def test_freehold_env_vars_name_real_settings() -> None:
    names = freehold_env_names()
    assert {"FREEHOLD_HOST", "FREEHOLD_MODELS_DIR", "FREEHOLD_API_KEY_FILE"} <= names
    for name in names:
        assert name.removeprefix("FREEHOLD_").lower() in Settings.model_fields, name


def test_dockerfile_starts_from_a_replaceable_base() -> None:
    parsed = dockerfile()
    assert parsed[0] == ("ARG", "BASE_IMAGE=python:3.11-slim")
    first_from = next(args for inst, args in parsed if inst == "FROM")
    assert first_from.startswith("${BASE_IMAGE}")
    assert "${BACKEND}-runtime-base AS runtime" in instructions("FROM")[-1]


def test_dockerfile_pins_the_same_llama_cpp_python_as_pyproject() -> None:
    pin = re.search(r'"llama-cpp-python==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    assert pin is not None
    assert f"LLAMA_CPP_PYTHON_VERSION={pin.group(1)}" in instructions("ARG")


def test_image_builds_and_checks_mtmd_for_images() -> None:
    """llama-cpp-python builds libmtmd only with LLAVA_BUILD on (its default): vision needs it."""
    build = " ".join(instructions("RUN") + instructions("ARG"))
    assert "LLAVA_BUILD=OFF" not in build
    assert any("import llama_cpp.mtmd_cpp" in run for run in instructions("RUN"))


def test_runtime_image_contract() -> None:
    env = " ".join(instructions("ENV"))
    assert "FREEHOLD_HOST=0.0.0.0" in env and "FREEHOLD_MODELS_DIR=/models" in env
    assert instructions("EXPOSE") == ["8000"]
    assert instructions("USER") == ["freehold"]
    assert instructions("VOLUME") == ['["/models"]']
    assert instructions("ENTRYPOINT")[0].startswith('["/usr/bin/tini"')
    assert "/opt/freehold/healthcheck.py" in instructions("HEALTHCHECK")[0]
    assert "GGML_NATIVE=OFF" in " ".join(instructions("ARG"))


def test_compose_services_share_the_store_and_the_healthcheck() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    cpu, gpu = compose["services"]["freehold"], compose["services"]["freehold-cuda"]
    assert "models" in compose["volumes"]
    health = re.search(r"CMD (\[.*\])", instructions("HEALTHCHECK")[0])
    assert health is not None
    for service in (cpu, gpu):
        assert service["volumes"] == ["models:/models"]
        assert service["healthcheck"]["test"] == ["CMD", *yaml.safe_load(health.group(1))]
        assert service["ports"][0].endswith(":8000")
    assert (cpu["build"]["args"]["BACKEND"], gpu["build"]["args"]["BACKEND"]) == ("cpu", "cuda")
    assert gpu["profiles"] == ["gpu"] and "profiles" not in cpu
    device = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]


def test_dockerignore_admits_only_what_the_build_copies() -> None:
    rules = [ln for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln[:1] not in "#"]
    assert rules[0] == "*"
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    copied = {a.split()[0].rstrip("/") for a in instructions("COPY") if "--from" not in a}
    assert copied  # pyproject.toml, README.md, src, docker/healthcheck.py

    def under(path: str, top: str) -> bool:
        return path == top or path.startswith(top + "/")

    assert all(any(under(c, a) for a in allowed) for c in copied), (copied, allowed)
    assert all(any(under(c, a) for c in copied) for a in allowed), (copied, allowed)
    assert {"**/*.gguf", "**/__pycache__"} <= set(rules)


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(self.status if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[int, type[_Health]]]:
    handler = type("Handler", (_Health,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], handler
    server.shutdown()
    server.server_close()


def run_healthcheck(port: int) -> int:
    env = {**os.environ, "FREEHOLD_PORT": str(port)}
    script = ROOT / "docker" / "healthcheck.py"
    return subprocess.run([sys.executable, script], env=env, capture_output=True).returncode


def test_healthcheck_script_follows_health(health_server: tuple[int, type[_Health]]) -> None:
    port, handler = health_server
    assert run_healthcheck(port) == 0
    handler.status = 503  # loading
    assert run_healthcheck(port) == 1


def test_healthcheck_script_fails_when_nothing_listens() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connection refused
        assert run_healthcheck(port) == 1


def test_smoke_script_is_valid_bash() -> None:
    assert subprocess.run(["bash", "-n", ROOT / "scripts" / "container-smoke.sh"]).returncode == 0
