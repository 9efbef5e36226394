"""The web chat page as served: the page, its own assets (no CDN), the accessible names
the browser tests and users rely on, the policy, --no-webui, and the package data."""

from __future__ import annotations

import fnmatch
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from freehold.cli import build_parser
from freehold.webui import STATIC

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[1]


class Assets(HTMLParser):
    """The URLs a page loads, and its labels: {for-id or wrapped control: label text}."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.ids: dict[str, dict[str, str | None]] = {}
        self.buttons: list[str] = []
        self._button = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        for key in ("src", "href"):
            if attr.get(key) and tag in ("script", "link", "img"):
                self.urls.append(str(attr[key]))
        if attr.get("id"):
            self.ids[str(attr["id"])] = {"tag": tag, **attr}
        self._button = tag == "button"

    def handle_data(self, data: str) -> None:
        if self._button and data.strip():
            self.buttons.append(data.strip())
            self._button = False


async def test_page_is_served_at_root_with_its_policy(fake):
    async with fake() as (client, _):
        r = await client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    page = Assets()
    page.feed(r.text)
    assert page.buttons == ["New chat", "Use key", "Send", "Stop"]
    assert page.ids["model"]["tag"] == "select" and page.ids["think"]["type"] == "checkbox"
    assert page.ids["message"]["tag"] == "textarea" and page.ids["api-key"]["type"] == "text"
    assert 'for="message"' in r.text and 'for="api-key"' in r.text


async def test_every_asset_is_served_by_freehold_itself(fake):
    async with fake() as (client, _):
        page = Assets()
        page.feed((await client.get("/")).text)
        assert len(page.urls) >= 6
        for url in page.urls:
            assert url.startswith("/webui/"), f"{url} is not freehold's own"
            r = await client.get(url)
            assert r.status_code == 200 and r.content, url


async def test_page_needs_no_key_but_the_api_does(fake):
    async with fake(api_key=["sekrit"]) as (client, _):
        assert (await client.get("/")).status_code == 200
        assert (await client.get("/webui/chat.js")).status_code == 200
        assert (await client.get("/v1/models")).status_code == 401


async def test_no_webui_serves_the_api_only(fake):
    async with fake(webui=False) as (client, _):
        assert (await client.get("/")).status_code == 404
        assert (await client.get("/webui/chat.js")).status_code == 404
        assert (await client.get("/v1/models")).status_code == 200


def test_no_webui_flag():
    args = build_parser().parse_args(["serve", "--no-webui"])
    assert args.webui is False
    assert not hasattr(build_parser().parse_args(["serve"]), "webui")  # the default: on


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib")
def test_every_static_file_is_package_data():
    import tomllib

    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["freehold"]
    package = STATIC.parent.parent
    files = [p.relative_to(package).as_posix() for p in STATIC.rglob("*") if p.is_file()]
    assert len(files) >= 8
    for name in files:
        assert any(fnmatch.fnmatch(name, g) and name.count("/") == g.count("/") for g in globs), (
            f"{name} would be missing from the wheel"
        )
