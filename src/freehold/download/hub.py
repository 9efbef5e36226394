"""The hub, through huggingface_hub: repo listings, per-file metadata, errors in words.

``huggingface_hub`` is imported inside functions only, after ``apply_offline``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from freehold.download.quants import HubFile
from freehold.errors import FreeholdError

TOKENS_URL = "https://huggingface.co/settings/tokens"


def apply_offline(offline: bool) -> bool:
    """Make ``offline`` (or an inherited HF_HUB_OFFLINE=1) hold for huggingface_hub too.

    The library reads HF_HUB_OFFLINE when first imported, so the variable is set here,
    before any import of it; if it was imported already, its constant is set as well.
    Returns whether freehold is offline.
    """
    offline = offline or os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")
    if offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
        constants = sys.modules.get("huggingface_hub.constants")
        if constants is not None:
            constants.HF_HUB_OFFLINE = True  # type: ignore[attr-defined]
    return offline


def endpoint() -> str:
    """The hub's address: HF_ENDPOINT as it is now (the library reads it once, at import)."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


@dataclass(frozen=True)
class Listing:
    """A repo at one commit: its files with sizes and LFS sha256."""

    repo: str
    commit: str
    files: tuple[HubFile, ...]
    gated: bool = False


@dataclass(frozen=True)
class FileLocation:
    """Where one file's bytes are (the hub's resolve answer)."""

    url: str
    size: int | None
    etag: str | None
    commit: str | None
    xet: bool


def _hub_file(sibling: Any) -> HubFile:
    lfs = sibling.lfs
    return HubFile(
        path=sibling.rfilename,
        size=lfs.size if lfs else (sibling.size or 0),
        sha256=lfs.sha256 if lfs else None,
        blob_id=sibling.blob_id,
    )


def list_repo(repo: str, revision: str | None, token: str | None) -> Listing:
    """The repo's files at ``revision`` (default branch when None), with LFS metadata."""
    from huggingface_hub import HfApi

    with hub_errors(repo, revision):
        api = HfApi(endpoint=endpoint(), token=token)
        info = api.model_info(repo, revision=revision, files_metadata=True)
    files = tuple(_hub_file(s) for s in info.siblings or [])
    return Listing(repo=info.id or repo, commit=info.sha or "", files=files, gated=bool(info.gated))


def locate_file(repo: str, path: str, commit: str, token: str | None) -> FileLocation:
    """HEAD the file's resolve URL: size, etag, commit, and where the bytes are served from.

    For an LFS or Xet-backed file the hub answers with a redirect to its CDN (for Xet,
    the bridge that serves whole files); that URL takes HTTP Range requests, so the
    same resumable path serves both.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    url = hf_hub_url(repo, path, revision=commit, endpoint=endpoint())
    with hub_errors(repo, commit, path):
        meta = get_hf_file_metadata(url, token=token, endpoint=endpoint(), retry_on_errors=True)
    return FileLocation(
        url=meta.location,
        size=meta.size,
        etag=meta.etag,
        commit=meta.commit_hash,
        xet=meta.xet_file_data is not None,
    )


def _gated_message(repo: str, status: int) -> str:
    if status == 401:
        return (
            f"{repo} is gated: accept its terms at https://huggingface.co/{repo}, then pass "
            f"an access token with --token or HF_TOKEN (create one at {TOKENS_URL})"
        )
    return (
        f"{repo} is gated and your token has no access to it yet: accept its terms at "
        f"https://huggingface.co/{repo} with the account that owns the token "
        "(for a fine-grained token, allow it to read gated repos)"
    )


def _status(exc: Exception) -> int:
    response = getattr(exc, "response", None)
    return int(getattr(response, "status_code", 0) or 0)


def translate(exc: Exception, repo: str, revision: str | None, path: str | None) -> FreeholdError:
    """A FreeholdError that says, in words, what went wrong and what to do."""
    from huggingface_hub import errors

    status = _status(exc)
    if isinstance(exc, errors.GatedRepoError):
        return FreeholdError(_gated_message(repo, status), status=status, code="gated_repo")
    if isinstance(exc, errors.RevisionNotFoundError):
        return FreeholdError(f"{repo} has no revision {revision!r}", status=404, code="not_found")
    if isinstance(exc, (errors.EntryNotFoundError, errors.RemoteEntryNotFoundError)):
        return FreeholdError(f"{repo} has no file {path!r}", status=404, code="not_found")
    if isinstance(exc, errors.RepositoryNotFoundError):
        return FreeholdError(
            f"{repo} was not found on the hub, or it is private: check the name; for a "
            f"private repo pass a token with read access (--token or HF_TOKEN, see {TOKENS_URL})",
            status=status or 404,
            code="repo_not_found",
        )
    if isinstance(exc, errors.OfflineModeIsEnabled):
        return FreeholdError(f"{repo}: offline mode is on (HF_HUB_OFFLINE=1)", code="offline")
    if status in (401, 403):
        return FreeholdError(
            f"access to {repo} denied ({status}): check your token (--token or HF_TOKEN) "
            f"and its permissions at {TOKENS_URL}",
            status=status,
            code="access_denied",
        )
    return FreeholdError(f"hub error for {repo}: {exc}", status=502, code="hub_error")


@contextmanager
def hub_errors(repo: str, revision: str | None, path: str | None = None) -> Iterator[None]:
    """Turn huggingface_hub and network errors into FreeholdErrors."""
    import httpx2
    from huggingface_hub import errors

    try:
        yield
    except (errors.HfHubHTTPError, errors.OfflineModeIsEnabled) as exc:
        raise translate(exc, repo, revision, path) from exc
    except (httpx2.TransportError, OSError) as exc:
        raise FreeholdError(
            f"cannot reach the hub at {endpoint()}: {exc}", status=502, code="hub_unreachable"
        ) from exc
