"""One file's bytes: a partial file of freehold's own, resumed with HTTP Range, retried
with backoff, verified against the hub's sha256 before it takes its final name.

The transfer goes through huggingface_hub's HTTP helpers (its shared client, headers,
backoff on 429/5xx and error mapping); freehold keeps the partial file (``hf_hub_download``
uses a per-process temporary file, so a killed pull would start from zero), resumes it
with a Range request, and retries what the library does not (a reset connection),
always from the bytes already on disk.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from freehold.download.hub import endpoint, translate
from freehold.download.progress import Reporter
from freehold.download.quants import HubFile
from freehold.errors import FreeholdError
from freehold.models.store import durable_replace

CHUNK = 1 << 20


class HashMismatch(FreeholdError):
    """The bytes on disk are not the bytes the hub lists."""


class ShortBody(Exception):
    """The server ended a response before the file was complete."""


def partial_path(dest: Path, expected: HubFile) -> Path:
    """The partial file's name carries the expected hash: a changed upstream file
    never resumes from the old one's bytes."""
    tag = (expected.sha256 or expected.blob_id or "nohash")[:12]
    return dest.with_name(f"{dest.name}.{tag}.part")


def file_digest(path: Path, algorithm: str, prefix: bytes = b"") -> str:
    digest = hashlib.new(algorithm, prefix)
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, expected: HubFile) -> str | None:
    """Check size and sha256 (git blob sha1 for a file kept in git); the sha256 if known."""
    size = path.stat().st_size
    if size != expected.size:
        raise HashMismatch(f"{expected.path}: got {size} bytes, the hub lists {expected.size}")
    if expected.sha256:
        actual = file_digest(path, "sha256")
        want = expected.sha256
    elif expected.blob_id:
        actual = file_digest(path, "sha1", f"blob {size}\0".encode())
        want = expected.blob_id
    else:
        return None
    if actual != want:
        raise HashMismatch(
            f"{expected.path}: checksum mismatch (got {actual}, the hub lists {want}); "
            "the corrupted file was deleted, run the pull again",
            status=502,
            type="server_error",
            code="checksum_mismatch",
        )
    return actual if expected.sha256 else None


def _headers(url: str, token: str | None) -> dict[str, str]:
    from huggingface_hub.utils import build_hf_headers

    headers = build_hf_headers(token=token)
    if urlsplit(url).netloc != urlsplit(endpoint()).netloc:
        headers.pop("authorization", None)  # a CDN URL is pre-signed; never leak the token
    return headers


def _resume_offset(part: Path, size: int) -> int:
    offset = part.stat().st_size if part.exists() else 0
    if offset > size:  # not a prefix of this file: start over
        part.unlink()
        return 0
    return offset


def _transfer_once(url: str, part: Path, size: int, token: str | None, on_bytes: Any) -> None:
    """One GET from the partial file's end; every block is on disk as soon as it arrives.

    ``http_get`` is not used here: it reads 10 MB blocks, so a broken connection loses
    up to 10 MB that already arrived; this loop keeps what the socket delivered.
    """
    from huggingface_hub import constants
    from huggingface_hub.utils import hf_raise_for_status, http_stream_backoff

    offset = _resume_offset(part, size)
    if offset == size:
        return
    headers = _headers(url, token) | {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    with http_stream_backoff(
        "GET",
        url,
        headers=headers,
        timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT,
        retry_on_exceptions=(),  # transport errors are retried by fetch(), from the new offset
        retry_on_status_codes=(408, 429, 500, 502, 503, 504),
    ) as response:
        hf_raise_for_status(response)
        if response.status_code != 206:
            offset = 0  # the server ignored the Range header: the body is the whole file
        with part.open("r+b" if part.exists() else "wb") as f:
            f.seek(offset)
            f.truncate()
            for block in response.iter_bytes():
                f.write(block)
                offset += len(block)
                on_bytes(len(block))
    if offset != size:
        raise ShortBody(f"the server sent {offset} of {size} bytes")


def _retryable(exc: Exception) -> bool:
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HfHubHTTPError):
        status = getattr(exc.response, "status_code", 0) or 0
        return status >= 500 or status in (408, 429)
    return isinstance(exc, (httpx2.TransportError, ShortBody))


def fetch(
    expected: HubFile,
    dest: Path,
    locate: Callable[[], str],
    *,
    token: str | None,
    reporter: Reporter,
    repo: str,
    attempts: int = 5,
    backoff: float = 1.0,
) -> str | None:
    """Bring ``expected`` to ``dest``, resuming any partial file; returns its sha256.

    ``locate`` gives the URL to read from; it is asked again before each attempt, since a
    CDN URL is signed and expires.
    """
    part = partial_path(dest, expected)
    name = dest.name
    reporter.start(name, expected.size, part.stat().st_size if part.exists() else 0)

    def on_bytes(n: int) -> None:
        reporter.advance(name, n)

    for attempt in range(1, attempts + 1):
        try:
            _transfer_once(locate(), part, expected.size, token, on_bytes)
            break
        except FreeholdError:
            raise
        except Exception as exc:
            if not _retryable(exc) or attempt == attempts:
                raise _failure(exc, repo, expected, attempt) from exc
            _wait_before_retry(reporter, name, exc, attempt, attempts, backoff)
    reporter.finish(name)
    try:
        digest = verify(part, expected)
    except HashMismatch:
        part.unlink(missing_ok=True)
        raise
    durable_replace(part, dest)
    return digest


def _wait_before_retry(
    reporter: Reporter, name: str, exc: Exception, attempt: int, attempts: int, backoff: float
) -> None:
    delay = backoff * 2 ** (attempt - 1)
    reporter.note(
        "retry",
        f"{name}: {type(exc).__name__}: {exc}; retrying in {delay:.1f}s "
        f"(attempt {attempt + 1} of {attempts})",
        file=name,
        attempt=attempt + 1,
        delay=delay,
        error=str(exc),
    )
    time.sleep(delay)


def _failure(exc: Exception, repo: str, expected: HubFile, attempt: int) -> FreeholdError:
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HfHubHTTPError):
        return translate(exc, repo, None, expected.path)
    return FreeholdError(
        f"download of {expected.path} failed after {attempt} attempt(s): {exc}; "
        "run the same pull again to resume",
        status=502,
        type="server_error",
        code="download_failed",
    )
