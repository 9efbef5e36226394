"""Model references: what a user may type after ``freehold pull``.

Forms: ``owner/repo:QUANT``, ``hf.co/owner/repo:QUANT``, ``owner/repo``,
``owner/repo@REVISION:QUANT``, ``owner/repo/path/file.gguf``,
``https://huggingface.co/owner/repo/resolve/REV/file.gguf``, a catalog alias
(``qwen3:0.6b``) and a local ``.gguf`` path.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from freehold.errors import FreeholdError
from freehold.models.catalog import CatalogEntry, lookup

HUB_HOSTS = ("huggingface.co", "hf.co", "www.huggingface.co")
REPO_PART = re.compile(r"^[A-Za-z0-9][\w.-]*$")


@dataclass(frozen=True)
class Ref:
    """A parsed reference: a hub selection, or a local file."""

    text: str
    repo: str | None = None
    revision: str | None = None
    quant: str | None = None
    filename: str | None = None
    local: Path | None = None
    alias: str | None = None


def _hub_hosts() -> tuple[str, ...]:
    endpoint = os.environ.get("HF_ENDPOINT")
    return HUB_HOSTS + ((urlsplit(endpoint).netloc,) if endpoint else ())


def _from_url(text: str) -> Ref:
    url = urlsplit(text)
    parts = [unquote(p) for p in url.path.strip("/").split("/")]
    if url.netloc not in _hub_hosts():
        raise FreeholdError(f"not a Hugging Face hub URL: {text}", param="model")
    if len(parts) == 2:
        return _from_repo_text(text, "/".join(parts))
    if len(parts) < 5 or parts[2] not in ("resolve", "blob"):
        raise FreeholdError(
            f"cannot read {text}: expected https://huggingface.co/OWNER/REPO/resolve/REV/FILE.gguf",
            param="model",
        )
    repo = _check_repo(text, parts[0], parts[1])
    return Ref(text, repo=repo, revision=parts[3], filename="/".join(parts[4:]))


def _check_repo(text: str, owner: str, name: str) -> str:
    if not (REPO_PART.match(owner) and REPO_PART.match(name)):
        raise FreeholdError(f"not a model reference: {text!r}", param="model")
    return f"{owner}/{name}"


def _from_repo_text(text: str, body: str) -> Ref:
    quant = None
    head, sep, tail = body.rpartition(":")
    if sep and "/" not in tail and "/" in head:
        body, quant = head, tail or None
    parts = body.split("/")
    if len(parts) < 2:
        raise FreeholdError(f"not a model reference: {text!r}", param="model")
    name, _, revision = parts[1].partition("@")
    repo = _check_repo(text, parts[0], name)
    filename = "/".join(parts[2:]) or None
    if filename and quant:
        raise FreeholdError(f"name a file or a quant, not both: {text!r}", param="model")
    if filename and not filename.lower().endswith(".gguf"):
        raise FreeholdError(f"not a .gguf file: {filename}", param="model")
    return Ref(text, repo=repo, revision=revision or None, quant=quant, filename=filename)


def _from_alias(text: str, entry: CatalogEntry) -> Ref:
    return Ref(text, repo=entry.repo, quant=entry.quant, alias=entry.alias)


def looks_local(text: str) -> bool:
    return text.lower().endswith(".gguf") and (
        Path(text).expanduser().is_file() or text.startswith(("/", "./", "../", "~", "."))
    )


def parse_ref(text: str, catalog: dict[str, CatalogEntry] | None = None) -> Ref:
    """Parse ``text`` into a Ref; a FreeholdError says what is wrong with it."""
    text = text.strip()
    if not text:
        raise FreeholdError("empty model reference", param="model")
    if looks_local(text):
        path = Path(text).expanduser()
        if not path.is_file():
            raise FreeholdError(f"no such file: {text}", param="model", code="file_not_found")
        return Ref(text, local=path.resolve())
    if text.startswith(("http://", "https://")):
        return _from_url(text)
    for host in _hub_hosts():
        if text.startswith(host + "/"):
            return _from_repo_text(text, text[len(host) + 1 :])
    if "/" not in text:
        entry = lookup(text, catalog)
        if entry is None:
            raise FreeholdError(
                f"unknown model {text!r}: not in the catalog (see `freehold list --catalog`) "
                "and not OWNER/REPO[:QUANT]",
                param="model",
                code="model_not_found",
            )
        return _from_alias(text, entry)
    return _from_repo_text(text, text)
