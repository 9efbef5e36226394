"""A `freehold pull` process killed (or interrupted) mid-transfer resumes where it stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .hub_server import HubServer

REF = "acme/big-GGUF:Q4_K_M"


def start_pull() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "freehold", "pull", REF],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["killed", "ctrl-c"])
def test_interrupted_pull_resumes_without_refetching(hub: HubServer, sig: signal.Signals) -> None:
    served = hub.state.repos["acme/big-GGUF"].files["big-Q4_K_M.gguf"]
    size = served.size
    hub.state.modes.throttle = 3_000_000  # bytes/s: the transfer takes about 2 s
    reached = hub.state.watch(served.sha256, size // 3)
    first = start_pull()
    try:
        assert reached.wait(timeout=60), first.communicate(timeout=5)
        first.send_signal(sig)
        _, err = first.communicate(timeout=30)
    finally:
        first.kill()
    if sig == signal.SIGINT:
        assert first.returncode == 130 and b"run the same command again to resume" in err
        assert b"Traceback" not in err
    partials = list(Path(os.environ["FREEHOLD_MODELS_DIR"]).glob("*/*.part"))
    assert len(partials) == 1
    kept = partials[0].stat().st_size
    assert 0 < kept < size

    hub.state.modes.throttle = None
    second = subprocess.run(
        [sys.executable, "-m", "freehold", "pull", REF], capture_output=True, env=os.environ.copy()
    )
    assert second.returncode == 0, second.stderr.decode()
    path = Path(second.stdout.decode().strip())
    assert path.read_bytes() == served.source
    gets = [r for r in hub.state.requests if r["path"].startswith("/cdn/") and r["method"] == "GET"]
    assert [r["range"] for r in gets] == [None, f"bytes={kept}-"]
    total = hub.state.served[served.sha256]
    assert total < 1.5 * size, f"{total} bytes served for a {size}-byte file"
