"""The repack rule on this host's real CPU and llama.cpp: the AMX probe reaches a verdict
in a child process, and the server reports the choice it made (/health, the log).

On an AMX host where llama.cpp's AMX matmul crashes (llama.cpp issue #20824) the probe's
child dies and the server, with the default ``auto``, still answers; the rest of the real
tier runs on the same default."""

from __future__ import annotations

import httpx
import pytest
from realserver import smollm2_server

from freehold.engine.amx_probe import child_command, run_probe
from freehold.engine.cpu import decide_repack, read_cpuinfo

pytestmark = pytest.mark.real


def test_probe_reaches_a_verdict(model_path) -> None:  # type: ignore[no-untyped-def]
    verdict = run_probe(child_command(model_path, 2))
    assert verdict in (True, False)  # not a timeout
    if not read_cpuinfo().has_amx:
        assert verdict is True  # without AMX the extra buffer types are the safe repack ones


@pytest.mark.parametrize("flag", ["--no-repack", None])
def test_server_reports_its_choice(model_path, tmp_path, flag) -> None:  # type: ignore[no-untyped-def]
    args = [flag] if flag else []
    with smollm2_server(model_path, tmp_path / "log.txt", "-c", "1024", "-np", "1", *args) as s:
        repack = s.health().json()["model"]["meta"]["repack"]

        reply = httpx.post(
            f"{s.base_url}/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4},
            timeout=60,
        )
        assert reply.status_code == 200, reply.text
        assert s.process.poll() is None  # still up after a real matmul
    if flag == "--no-repack":
        assert repack == "repack off: forced by --no-repack"
    else:
        cpu = read_cpuinfo()
        verdict = run_probe(child_command(model_path, 2)) if cpu.has_amx else None
        assert repack == decide_repack("auto", cpu, verdict).describe()
    assert repack in (tmp_path / "log.txt").read_text()
