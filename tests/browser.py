"""Playwright for Python driving Debian's chromium (Playwright's own browser download
cannot work here). A module of browser tests calls ``require_chromium()`` first: it skips,
with the reason, where chromium or playwright is missing."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "tmp" / "artifacts"


def require_chromium() -> str:
    """The chromium binary; skips the calling module where there is none (or no playwright)."""
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip(
            "no chromium on this machine (apt-get install chromium; `make test` does it "
            "as root): the chat page's browser tests skip",
            allow_module_level=True,
        )
    return path


@contextmanager
def launched(executable: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@contextmanager
def fresh_page(browser: Any) -> Iterator[Any]:
    """A page in its own context (own storage); script errors and dialogs fail the test."""
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    page.set_default_timeout(120_000)  # a reply on a busy 2-core machine
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}"))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"the page raised: {errors}"


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
