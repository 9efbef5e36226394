"""Images of a request (a Turn's messages list them under IMAGES_KEY): URLs fetched
(``data:`` URLs, and http(s) URLs when the server allows them) and decoded with Pillow
into RGB pixels for the engine.

Every failure is a 400 naming the part: a model without a projector, a URL that is not
allowed or cannot be read, bytes over ``--max-image-bytes``, a format other than PNG,
JPEG, WebP or GIF (its first frame), more pixels than ``--max-image-pixels``.
"""

from __future__ import annotations

import base64
import binascii
import io
import urllib.request
from collections.abc import Iterable
from typing import Any

from PIL import Image, UnidentifiedImageError

from freehold.config import Settings
from freehold.engine.vision import ImageInput
from freehold.errors import bad_request

FORMATS = {"PNG", "JPEG", "WEBP", "GIF"}
FETCH_TIMEOUT = 10.0


# Each dialect's translator writes a media marker in a message's text and lists the
# image's (param, url) under this key of the template-ready message (see api.turn).
IMAGES_KEY = "images"


def turn_images(
    messages: Iterable[dict[str, Any]], settings: Settings, vision: bool, model: str
) -> tuple[ImageInput, ...]:
    parts = [tuple(pair) for m in messages for pair in m.get(IMAGES_KEY, ())]
    return load_images(parts, settings, vision, model)  # type: ignore[arg-type]


def load_images(
    parts: list[tuple[str, str]], settings: Settings, vision: bool, model: str
) -> tuple[ImageInput, ...]:
    """Each (param, url) fetched and decoded; a 400 naming the model without a projector."""
    if parts and not vision:
        raise bad_request(
            f"the model '{model}' does not take images (it has no vision projector; "
            "a vision model is served with --mmproj)",
            param=parts[0][0],
            code="model_not_vision",
        )
    return tuple(load_image(url, settings, param) for param, url in parts)


def load_image(url: str, settings: Settings, param: str) -> ImageInput:
    data = _read(url, settings, param)
    if len(data) > settings.max_image_bytes:
        raise _too_large(settings.max_image_bytes, param)
    return decode_image(data, settings.max_image_pixels, param)


def _read(url: str, settings: Settings, param: str) -> bytes:
    if url.startswith("data:"):
        return _data_url(url, param)
    if not url.startswith(("http://", "https://")):
        raise bad_request("an image URL must be a data: URL or http(s)", param=param)
    if not settings.allow_image_urls:
        raise bad_request(
            "this server does not fetch image URLs (start it with --allow-image-urls); "
            "send the image as a data: URL",
            param=param,
            code="image_url_not_allowed",
        )
    return _fetch(url, settings.max_image_bytes, param)


def _data_url(url: str, param: str) -> bytes:
    head, sep, payload = url.partition(",")
    if not sep or not head.endswith(";base64"):
        raise bad_request("a data: URL must be base64: data:image/png;base64,...", param=param)
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("the data: URL is not valid base64", param=param) from None


def _fetch(url: str, limit: int, param: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response:  # noqa: S310
            data: bytes = response.read(limit + 1)
    except OSError as exc:
        raise bad_request(f"could not fetch the image: {exc}", param=param) from None
    if len(data) > limit:
        raise _too_large(limit, param)
    return data


def decode_image(data: bytes, max_pixels: int, param: str) -> ImageInput:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in FORMATS:
                raise bad_request(
                    f"images must be PNG, JPEG, WebP or GIF, not {image.format}", param=param
                )
            width, height = image.size
            if width * height > max_pixels:
                raise bad_request(
                    f"the image is {width}x{height} pixels, over this server's limit of "
                    f"{max_pixels} pixels (--max-image-pixels)",
                    param=param,
                    code="image_too_large",
                )
            image.seek(0)  # a GIF's first frame
            rgb = image.convert("RGB")
            return ImageInput(rgb.width, rgb.height, rgb.tobytes())
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise bad_request("the image could not be decoded", param=param) from None


def _too_large(limit: int, param: str) -> Exception:
    return bad_request(
        f"the image is over this server's limit of {limit} bytes (--max-image-bytes)",
        param=param,
        code="image_too_large",
    )
