"""freehold's own HTTP server (uvicorn as `freehold serve` runs it) over a FakeEngine, in a
subprocess: for what only a real socket and a real process show (slow clients, signals,
exit status, CORS preflights). No model loads, so it starts in about a second.

Run as ``python tests/fakeserver.py SETTINGS_JSON ENGINE_JSON``; tests use ``fake_server``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from realserver import RunningServer, free_port


@contextmanager
def fake_server(
    log: Path, settings: dict[str, Any], engine: dict[str, Any] | None = None, timeout: float = 60
) -> Iterator[RunningServer]:
    """The fake server with ``settings`` (Settings fields) and ``engine`` (FakeEngine
    fields: delay, eos, slots, pieces: how many "tok" pieces, template); ready on return."""
    port = free_port()
    cmd = [sys.executable, __file__, json.dumps({**settings, "port": port}), json.dumps(engine)]
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=os.environ)
    server = RunningServer(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if server.health().status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def main(settings_json: str, engine_json: str) -> int:
    import logging

    from freehold.api import create_app
    from freehold.config import Settings
    from freehold.engine.fake import FakeEngine
    from freehold.serving import run_app

    logging.basicConfig(level=logging.INFO)
    settings = Settings(**json.loads(settings_json))
    options = json.loads(engine_json) or {}
    engine = FakeEngine(
        script=["tok "] * int(options.get("pieces", 4)),
        eos=bool(options.get("eos", True)),
        delay=float(options.get("delay", 0.0)),
        slots=int(options.get("slots", 4)),
    )
    engine.info = replace(engine.info, n_ctx_slot=100_000, chat_template=options.get("template"))
    app = create_app(settings, engine)
    run_app(app, settings)
    return 1 if app.state.load_error is not None else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
