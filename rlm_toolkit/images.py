"""Images in a prompt: one content part, built from what a notebook holds, sent in each vendor's shape.

::

    from rlm_toolkit import RLM, image
    rlm.stream(["What trend does this plot show?", fig])            # a Figure, a PIL image, bytes, a path
    rlm.stream([{"role": "user", "content": [{"type": "text", "text": "What is it?"}, image("cat.jpg")]}])

A prompt's images travel as OpenAI-style content parts (``{"type": "image_url", "image_url": {"url":
"data:image/png;base64,…"}}``), so messages stay plain JSON everywhere (callbacks, ``--chat`` history,
traces). :func:`image` builds one from a matplotlib Figure (or Axes), a PIL image, PNG/JPEG/GIF/WebP
bytes (the format is read from the bytes, never from a name) or a path. Each provider converts the
parts in its request body (:func:`content_parts` reads them) and checks them first against its vendor's
documented limits (:func:`check`, :data:`OPENAI`, :data:`ANTHROPIC`): a :class:`UsageError` before
anything is sent. matplotlib and PIL are never imported here; they are recognised by their methods.
No image over ``MAX_IMAGE_BYTES`` (50 MB, more than any vendor takes) is read, copied or encoded: a
path is read by :mod:`rlm_toolkit._files` (a regular file, at most that many bytes), a file object
gives at most that many bytes plus one, and bytes are measured before anything else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ._files import MAX_IMAGE_BYTES, read_bytes
from .errors import UsageError

__all__ = ["ANTHROPIC", "OLLAMA", "OPENAI", "Image", "Limits", "check", "content_parts", "for_trace", "image",
           "is_image", "parts", "text_only", "shown_images", "SHOWN_IMAGE_BYTES", "SHOWN_IMAGES"]

MB = 1024 * 1024
#: Path suffixes :func:`is_image` takes for an image file (the bytes still decide the format).
SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp"})
_REMOTE = ("http://", "https://")
_NAMES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WebP"}


def _check_size(size: int) -> None:
    """A UsageError for an image over :data:`MAX_IMAGE_BYTES`, raised before it is copied or encoded."""
    if size > MAX_IMAGE_BYTES:
        raise UsageError(f"the image is {size / MB:.1f} MB; rlm takes images of at most "
                         f"{MAX_IMAGE_BYTES // MB} MB (no vendor takes one as big; save it smaller: a lower "
                         "dpi, JPEG, or fewer pixels)")


def _media_type(data: bytes) -> str | None:
    """The media type the magic bytes at the start of ``data`` announce, if one we send."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _dimensions(data: bytes, media_type: str) -> tuple[int, int] | None:
    """Width and height from the image's header (None where it cannot be read)."""
    size = _header_size(data, media_type)
    return size if size and all(size) else None


def _header_size(data: bytes, media_type: str) -> tuple[int, int] | None:
    try:
        if media_type == "image/png":
            return struct.unpack(">II", data[16:24])
        if media_type == "image/gif":
            return struct.unpack("<HH", data[6:10])
        if media_type == "image/webp":
            chunk = data[12:16]
            if chunk == b"VP8X":
                return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
            if chunk == b"VP8L":
                bits = int.from_bytes(data[21:25], "little")
                return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
            if chunk == b"VP8 ":
                width, height = struct.unpack("<HH", data[26:30])
                return width & 0x3FFF, height & 0x3FFF
        if media_type == "image/jpeg":
            at = 2
            while at + 9 < len(data):
                if data[at] != 0xFF:
                    return None
                marker, length = data[at + 1], int.from_bytes(data[at + 2 : at + 4], "big")
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start of frame
                    height, width = struct.unpack(">HH", data[at + 5 : at + 9])
                    return width, height
                at += 2 + length
    except struct.error:
        return None
    return None


@dataclass(frozen=True, eq=False)
class Image:
    """The bytes of one PNG, JPEG, GIF or WebP image and its media type (read from the bytes)."""

    data: bytes
    media_type: str

    @classmethod
    def of(cls, obj: Any) -> Image:
        """An image from a Figure (or an Axes: its figure), a PIL image, bytes, a path, or a content part."""
        if isinstance(obj, Image):
            return obj
        if isinstance(obj, dict):
            return cls.from_part(obj)
        if isinstance(obj, (bytes, bytearray, memoryview)):
            _check_size(memoryview(obj).nbytes)  # before the copy bytes() makes of a bytearray
            return cls.from_bytes(bytes(obj))
        if isinstance(obj, (str, os.PathLike)):
            return cls.from_path(obj)
        if isinstance(obj, io.BytesIO):  # a buffer a figure was just saved to stands at its end
            return cls.from_buffer(obj)
        if callable(getattr(obj, "read", None)):
            return cls.from_file(obj)
        figure = obj if callable(getattr(obj, "savefig", None)) else getattr(obj, "figure", None)
        if callable(getattr(figure, "savefig", None)):
            return cls.from_figure(figure)
        if callable(getattr(obj, "save", None)):
            return cls.from_pil(obj)
        raise UsageError(f"a {type(obj).__name__} is not an image: give a matplotlib Figure, a PIL image, "
                         "PNG/JPEG/GIF/WebP bytes or a path to such a file")

    @classmethod
    def from_bytes(cls, data: bytes) -> Image:
        _check_size(len(data))
        media_type = _media_type(data)
        if media_type is None:
            raise UsageError(f"not a PNG, JPEG, GIF or WebP image (it starts with {data[:8]!r}); convert it "
                             "first, e.g. PIL.Image.open(path).save(buffer, 'PNG')")
        return cls(data, media_type)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> Image:
        data = read_bytes(Path(path).expanduser(), MAX_IMAGE_BYTES, "an image", "MAX_IMAGE_BYTES")
        return cls.from_bytes(data)

    @classmethod
    def from_file(cls, file: Any) -> Image:
        """The image in a binary file object (``open("cat.png", "rb")``), read from where it stands;
        at most :data:`MAX_IMAGE_BYTES` + 1 bytes are read. (:meth:`of` takes an ``io.BytesIO``
        whole, wherever it stands: after ``fig.savefig(buffer)`` it stands at its end.)"""
        data = file.read(MAX_IMAGE_BYTES + 1)
        if not isinstance(data, (bytes, bytearray)):
            raise UsageError(f"a {type(file).__name__} gave {type(data).__name__}, not bytes: open an image "
                             "file in binary mode ('rb')")
        return cls.from_bytes(bytes(data))

    @classmethod
    def from_figure(cls, figure: Any, **savefig: Any) -> Image:
        """A matplotlib Figure as PNG, cropped to its drawn area as the notebook shows it."""
        buffer = io.BytesIO()
        figure.savefig(buffer, **{"format": "png", "bbox_inches": "tight", **savefig})
        return cls.from_buffer(buffer)

    @classmethod
    def from_pil(cls, picture: Any) -> Image:
        """A PIL image as PNG (converted to RGBA first where PNG cannot hold its mode, e.g. CMYK)."""
        buffer = io.BytesIO()
        try:
            picture.save(buffer, format="PNG")
        except OSError:
            buffer = io.BytesIO()
            picture.convert("RGBA").save(buffer, format="PNG")
        except Exception as error:  # noqa: BLE001 - an object with some other save()
            raise UsageError(f"could not save the {type(picture).__name__} as PNG: {error}") from None
        return cls.from_buffer(buffer)

    @classmethod
    def from_buffer(cls, buffer: io.BytesIO) -> Image:
        with buffer.getbuffer() as view:
            _check_size(view.nbytes)  # before getvalue() copies it
        return cls.from_bytes(buffer.getvalue())

    @classmethod
    def from_part(cls, part: dict[str, Any]) -> Image:
        """The image of an OpenAI ``image_url`` part holding a ``data:`` URL."""
        url = _url_of(part)
        comma = url.find(",", 0, 256)  # a data: URL's head is short; the payload is not copied to find it
        head = url[:comma]
        if not (head.startswith("data:") and head.endswith(";base64") and comma > 0):
            raise UsageError(f"an image part needs a base64 data: URL, not {url[:60]!r}")
        _check_size((len(url) - comma - 1) // 4 * 3)  # what it decodes to (about), before decoding it
        try:
            return cls.from_bytes(base64.b64decode(url[comma + 1:], validate=True))
        except binascii.Error:
            raise UsageError("an image part's data: URL is not valid base64") from None

    @property
    def size(self) -> int:
        return len(self.data)

    @cached_property
    def base64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @cached_property
    def dimensions(self) -> tuple[int, int] | None:
        return _dimensions(self.data, self.media_type)

    def data_url(self) -> str:
        return f"data:{self.media_type};base64,{self.base64}"

    def part(self, detail: str | None = None) -> dict[str, Any]:
        """The OpenAI content part (``detail``: OpenAI's "low", "high" or "auto")."""
        url: dict[str, Any] = {"url": self.data_url()}
        if detail is not None:
            url["detail"] = detail
        return {"type": "image_url", "image_url": url}

    def describe(self) -> str:
        """``PNG 640×480, 23.4 KB``: for error messages."""
        size = f"{self.size / MB:.1f} MB" if self.size >= MB else f"{self.size / 1024:.1f} KB"
        dims = f" {self.dimensions[0]}×{self.dimensions[1]}" if self.dimensions else ""
        return f"{_NAMES[self.media_type]}{dims}, {size}"

    def summary(self) -> dict[str, Any]:
        """What a trace keeps of the image: type, size, hash and dimensions, not the bytes."""
        out: dict[str, Any] = {"type": "image", "media_type": self.media_type, "bytes": self.size,
                               "sha256": self.sha256}
        if self.dimensions:
            out["width"], out["height"] = self.dimensions
        return out


def image(obj: Any, *, detail: str | None = None) -> dict[str, Any]:
    """An OpenAI-style image content part from a Figure, a PIL image, bytes or a path.

    ``{"role": "user", "content": [{"type": "text", "text": "Why?"}, image(fig)]}``; every provider
    takes it. A list of parts as the prompt (``rlm.stream(["Why?", fig])``) calls this for you.
    """
    if isinstance(obj, dict) and obj.get("type") == "image_url" and detail is None:
        return obj  # a part already (a remote URL's too)
    return Image.of(obj).part(detail)


def parts(items: Any) -> list[dict[str, Any]]:
    """Content parts from a list of strings (text), part dicts (as they are) and images (:func:`image`)."""
    out = []
    for item in items:
        if isinstance(item, dict) and "type" not in item:
            raise UsageError(f"{str(item)[:60]} is neither a message (it has no 'role') nor a content part "
                             "(it has no 'type')")
        out.append({"type": "text", "text": item} if isinstance(item, str) else item if isinstance(item, dict)
                   else image(item))
    return out


def is_image(obj: Any) -> bool:
    """Whether a notebook value is meant as an image: a Figure or Axes, a PIL image, image bytes, a
    path (``Path``, not ``str``) to an image file, or an image part. Anything else is text."""
    if isinstance(obj, Image):
        return True
    if isinstance(obj, dict):
        return obj.get("type") == "image_url"
    if isinstance(obj, (bytes, bytearray)):
        return _media_type(bytes(obj[:12])) is not None
    if isinstance(obj, os.PathLike):
        return Path(obj).suffix.lower() in SUFFIXES
    figure = getattr(obj, "figure", None)  # an Axes
    if callable(getattr(obj, "savefig", None)) or callable(getattr(figure, "savefig", None)):
        return True
    return type(obj).__module__.startswith("PIL.") and callable(getattr(obj, "save", None))


def _url_of(part: dict[str, Any]) -> str:
    value = part.get("image_url")
    url = value.get("url") if isinstance(value, dict) else value
    if not isinstance(url, str):
        raise UsageError(f"an image_url part needs a URL: {str(part)[:80]}")
    return url


def content_parts(content: Any) -> Iterator[tuple[str, Any]]:
    """A message's content as ``("text", str)``, ``("image", Image)``, ``("url", str)`` (a remote
    image) and ``("other", part)`` (a part of another type, e.g. OpenAI's ``input_audio``) items, in
    order: what every provider's converter reads. Content that is not a list, and a plain string in a
    list, are text."""
    if content is None:
        return
    if not isinstance(content, list):
        yield "text", str(content)
        return
    for part in content:
        if isinstance(part, str):
            yield "text", part
        elif not isinstance(part, dict):
            raise UsageError(f"a content part is a dict, not a {type(part).__name__} (RLM.request and "
                             "rlm_toolkit.image() turn figures and images into parts)")
        elif part.get("type") == "text":
            yield "text", str(part.get("text") or "")
        elif part.get("type") == "image_url":
            url = _url_of(part)
            yield ("url", url) if url.startswith(_REMOTE) else ("image", Image.from_part(part))
        else:
            yield "other", part


@dataclass(frozen=True)
class Limits:
    """A vendor's documented limits on the images of one request (None: none documented)."""

    vendor: str
    per_image: int | None = None
    per_request: int | None = None
    count: int | None = None
    #: whether ``per_image`` / ``per_request`` count the base64 text rather than the image's bytes
    base64: bool = False
    max_side: int | None = None
    #: (images, side): with more than ``images`` images, each side may be at most ``side`` pixels
    many: tuple[int, int] | None = None


#: platform.openai.com, "Images and vision": 20 MB per image, 50 MB of images and 500 images a request.
OPENAI = Limits("OpenAI", per_image=20 * MB, per_request=50 * MB, count=500)
#: docs.anthropic.com, "Vision": 5 MB per image (of base64, as the API counts it), a 32 MB request,
#: 100 images, 8000 px a side (2000 px with more than 20 images).
ANTHROPIC = Limits("Anthropic", per_image=5 * MB, per_request=32 * MB, count=100, base64=True,
                   max_side=8000, many=(20, 2000))
#: Ollama documents no limit on the ``images`` of a message.
OLLAMA = Limits("Ollama")


def check(messages: list[dict[str, Any]], limits: Limits, model_id: str) -> None:
    """A UsageError naming the image and the limit if ``messages`` hold images ``limits`` refuse."""
    found = [img for m in messages if isinstance(m.get("content"), list)
             for kind, img in content_parts(m["content"]) if kind == "image"]
    if not found:
        return
    if limits.count is not None and len(found) > limits.count:
        raise UsageError(f"{model_id}: {len(found)} images in one request; {limits.vendor} takes at most "
                         f"{limits.count}")
    side = limits.many[1] if limits.many and len(found) > limits.many[0] else limits.max_side
    total = 0
    for number, img in enumerate(found, 1):
        size = len(img.base64) if limits.base64 else img.size
        counted = " as base64" if limits.base64 else ""
        total += size
        if limits.per_image is not None and size > limits.per_image:
            raise UsageError(f"{model_id}: image {number} ({img.describe()}) is {size / MB:.1f} MB{counted}; "
                             f"{limits.vendor} takes at most {limits.per_image // MB} MB{counted} per image "
                             "(save it smaller: a lower dpi, JPEG, or fewer pixels)")
        if side is not None and img.dimensions and max(img.dimensions) > side:
            many = " with this many images" if side != limits.max_side else ""
            raise UsageError(f"{model_id}: image {number} ({img.describe()}) is over {side} pixels a side, "
                             f"{limits.vendor}'s limit{many}")
        if limits.per_request is not None and total > limits.per_request:
            raise UsageError(f"{model_id}: the images of this request add up to over "
                             f"{limits.per_request // MB} MB{counted}; {limits.vendor} takes at most that")


def text_only(messages: list[dict[str, Any]], model_id: str, why: str) -> list[dict[str, Any]]:
    """``messages`` with content parts joined into text, for a model that takes no images (a
    UsageError saying so, and ``why``, if any message holds one)."""
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            parts = list(content_parts(content))
            if any(kind in ("image", "url") for kind, _ in parts):
                raise UsageError(f"{model_id} takes no images: {why}")
            for kind, part in parts:
                if kind == "other":
                    raise UsageError(f"{model_id} takes text only, not {part.get('type')!r} parts")
            message = {**message, "content": "".join(text for _, text in parts)}
        out.append(message)
    return out


def for_trace(value: Any) -> Any:
    """``value`` with every inline image part replaced by its :meth:`Image.summary` (remote URLs stay)."""
    if isinstance(value, dict):
        if value.get("type") != "image_url":
            return {k: for_trace(v) for k, v in value.items()}
        try:
            return value if _url_of(value).startswith(_REMOTE) else Image.from_part(value).summary()
        except UsageError:
            return {"type": "image"}  # unreadable: none of it is kept either
    if isinstance(value, (list, tuple)):
        return [for_trace(v) for v in value]
    return value


#: An image a tool returns is shown (timeline, saved notebook) only up to this many bytes ...
SHOWN_IMAGE_BYTES = 1 * MB
#: ... and at most this many of one observation.
SHOWN_IMAGES = 4


def shown_images(items: Any) -> list[dict[str, str]]:
    """The images of a tool's result that may be shown, as ``{"mime_type", "data"}`` (base64).

    Tool output is untrusted: an item is kept only if its data is valid base64 of at most
    :data:`SHOWN_IMAGE_BYTES` whose magic bytes are PNG, JPEG, GIF or WebP (never SVG, which can
    hold script); its media type is read from those bytes, not from what the tool claims. At most
    :data:`SHOWN_IMAGES` are kept; the rest are left out. Only ever shown as a ``data:`` URL, so
    nothing is fetched.
    """
    out: list[dict[str, str]] = []
    if not isinstance(items, (list, tuple)):
        return out
    limit = 4 * ((SHOWN_IMAGE_BYTES + 2) // 3)  # the base64 length of the largest image kept
    for item in items[: SHOWN_IMAGES * 4]:
        if len(out) == SHOWN_IMAGES:
            break
        data = item.get("data") if isinstance(item, dict) else None
        if not isinstance(data, str) or not data or len(data) > limit + limit // 38:  # room for line breaks
            continue
        try:  # base64 wrapped in lines (MIME's 76 columns) is base64 still
            raw = base64.b64decode("".join(data.split()).encode("ascii", "replace"), validate=True)
        except (binascii.Error, ValueError):
            continue
        media_type = _media_type(raw)
        if media_type is None or len(raw) > SHOWN_IMAGE_BYTES:
            continue
        out.append({"mime_type": media_type, "data": base64.b64encode(raw).decode("ascii")})
    return out
