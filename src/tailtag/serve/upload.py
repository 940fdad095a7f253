"""A POST /v1/tags body -> the image bytes it carries, refusing anything else with a precise `ApiError`.

Two encodings are accepted: multipart/form-data with file parts named "images" (or "image"), and JSON
`{"images": ["<base64>" or "data:image/...;base64,<base64>", ...]}`. Bytes are counted while the body
streams in, so a client that lies in Content-Length (or sends none, chunked) is cut off at the limit, not
after the whole body sits in memory. Only bytes are ever accepted: a JSON string that is a path or a URL
is refused, so no request can make the service read a local file or fetch anything.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from tailtag.serve.limits import ApiError, Limits

FILE_FIELDS = ("images", "image")
_DATA_URI = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[\w.+-]+)*)(?P<b64>;base64)?,")
# Prefixes no base64 text has (scheme, "file:", "~", ".", "\\", "C:"); "/" is handled after decoding.
_LOOKS_LIKE_LOCATION = re.compile(r"^(\w[\w+.-]*:|[~\\.])")
_BASE64_ALPHABET = re.compile(r"^[A-Za-z0-9+/=_-]*$")
_FORMATS = "JPEG, PNG, WebP, GIF, BMP or TIFF"


@dataclass(frozen=True)
class Upload:
    """One image as received: position in the request, the client's name for it, its bytes."""

    index: int
    filename: str | None
    data: bytes


async def read_uploads(
    content_type: str, length: str | None, stream: AsyncIterator[bytes], limits: Limits
) -> list[Upload]:
    """The images of a request, in order; ApiError (400/413/415) for a body that is not what the API takes.

    Args:
        content_type: the Content-Type header ("" if absent).
        length: the Content-Length header, if any.
        stream: the body chunks (`Request.stream()`).
        limits: max_request_bytes and max_images apply here.
    """
    _check_length(length, limits)
    kind, params = parse_options_header(content_type.encode("latin-1", "replace"))
    counted = _counted(stream, limits)
    if kind == b"multipart/form-data":
        uploads = await _multipart(params, counted, limits)
    elif kind == b"application/json" or kind.endswith(b"+json"):
        uploads = _from_json(b"".join([chunk async for chunk in counted]), limits)
    else:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type {content_type or '(none)'!r} is not accepted",
            'send multipart/form-data with file fields named "images", or application/json {"images": [base64]}',
        )
    if not uploads:
        raise ApiError(400, "no_images", "the request holds no images", _send_fix())
    return uploads


def _send_fix() -> str:
    return 'attach files in multipart fields named "images", or send JSON {"images": ["<base64 bytes>", ...]}'


def _check_length(length: str | None, limits: Limits) -> None:
    if length is None:
        return
    if not length.strip().isdigit():
        raise ApiError(400, "bad_content_length", f"Content-Length {length!r} is not a number", "send a valid header")
    if int(length) > limits.max_request_bytes:
        raise _too_large(int(length), limits, declared=True)


def _too_large(n_bytes: int, limits: Limits, *, declared: bool) -> ApiError:
    what = f"Content-Length declares {n_bytes:,} bytes" if declared else f"the body exceeds {n_bytes:,} bytes"
    return ApiError(
        413,
        "request_too_large",
        f"{what}, over the limit of {limits.max_request_bytes:,} bytes ({limits.max_request_mb:g} MiB)",
        "send fewer or smaller images per request (downscale large photos), or start the service with a larger "
        "--max-request-mb",
    )


async def _counted(stream: AsyncIterator[bytes], limits: Limits) -> AsyncIterator[bytes]:
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > limits.max_request_bytes:
            raise _too_large(limits.max_request_bytes, limits, declared=False)
        if chunk:
            yield chunk


def _too_many(count: int | None, limits: Limits) -> ApiError:
    """413 for a request over max_images; `count` None when parsing stopped at the first extra image."""
    held = f"more than {limits.max_images}" if count is None else str(count)
    return ApiError(
        413,
        "too_many_images",
        f"the request holds {held} images, over the limit of {limits.max_images} per request",
        f"split the images over several requests of at most {limits.max_images}, or raise --max-images",
    )


async def _multipart(params: dict[bytes, bytes], stream: AsyncIterator[bytes], limits: Limits) -> list[Upload]:
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "bad_multipart", "multipart/form-data without a boundary", "let your HTTP client build it")
    parts = _Parts(limits)
    parser = MultipartParser(boundary, parts.callbacks())
    try:
        async for chunk in stream:
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise ApiError(400, "bad_multipart", f"the multipart body cannot be parsed ({exc})", _send_fix()) from exc
    if parts.open:
        raise ApiError(400, "bad_multipart", "the multipart body ends inside a part (truncated)", _send_fix())
    return parts.uploads


class _Parts:
    """python-multipart callbacks collecting file parts; refuses other fields as soon as their headers end."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.uploads: list[Upload] = []
        self.open = False
        self._header, self._value, self._disposition = bytearray(), bytearray(), b""
        self._name: str | None = None
        self._data = bytearray()

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._begin,
            # python-multipart refuses part headers over its own size limit, so these stay small
            "on_header_field": lambda data, start, end: self._header.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": lambda data, start, end: self._data.extend(data[start:end]),
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self.open = True
        self._header.clear()
        self._value.clear()
        self._disposition, self._name = b"", None
        self._data = bytearray()

    def _header_end(self) -> None:
        if self._header.lower() == b"content-disposition":
            self._disposition = bytes(self._value)
        self._header.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        field = options.get(b"name", b"").decode("utf-8", "replace")
        if field not in FILE_FIELDS:
            raise ApiError(
                400, "unknown_field", f"multipart field {field!r} is not accepted (only {FILE_FIELDS})", _send_fix()
            )
        if b"filename" not in options:
            raise ApiError(
                400,
                "not_a_file",
                f"multipart field {field!r} is a text field, not a file",
                "attach the image as a file (curl: -F images=@photo.jpg); the service never reads paths it is sent",
            )
        if len(self.uploads) >= self.limits.max_images:
            raise _too_many(None, self.limits)
        self._name = options[b"filename"].decode("utf-8", "replace")

    def _end(self) -> None:
        self.uploads.append(Upload(len(self.uploads), self._name, bytes(self._data)))
        self.open = False


def _from_json(body: bytes, limits: Limits) -> list[Upload]:
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_json", f"the body is not valid JSON ({exc})", _send_fix()) from exc
    except RecursionError as exc:  # "[[[[..." a hundred thousand deep exhausts the parser's stack
        raise ApiError(400, "bad_json", "the body is JSON nested too deeply", _send_fix()) from exc
    if not isinstance(document, dict) or "images" not in document:
        found = f"an object with keys {sorted(document)[:8]}" if isinstance(document, dict) else type(document).__name__
        raise ApiError(400, "bad_json", f'expected a JSON object with key "images", got {found}', _send_fix())
    extra = sorted(set(document) - {"images"})
    if extra:
        raise ApiError(
            400,
            "unknown_field",
            f'JSON key(s) {extra} are not accepted; only "images" is',
            'send the image bytes base64-encoded in "images"; the service never reads paths or fetches URLs',
        )
    images = document["images"]
    if not isinstance(images, list):
        raise ApiError(400, "bad_json", f'"images" must be a list, got {type(images).__name__}', _send_fix())
    if len(images) > limits.max_images:
        raise _too_many(len(images), limits)
    return [Upload(index, None, _base64_image(index, item)) for index, item in enumerate(images)]


def _base64_image(index: int, item: object) -> bytes:
    where = f"images[{index}]"
    if not isinstance(item, str):
        raise ApiError(400, "bad_json", f"{where} must be a base64 string, got {type(item).__name__}", _send_fix())
    text = item.strip()
    uri = _DATA_URI.match(text)
    if uri and not uri.group("b64"):
        raise ApiError(400, "bad_base64", f"{where} is a data: URI without ;base64", "use data:...;base64,...")
    if uri:
        text = text[uri.end() :]
    elif _LOOKS_LIKE_LOCATION.match(text) or "://" in text:
        raise _location(where, text)
    text = re.sub(r"\s+", "", text)
    if not _BASE64_ALPHABET.match(text):
        if not uri and text.startswith("/"):
            raise _location(where, text)
        bad = next(ch for ch in text if not _BASE64_ALPHABET.match(ch))
        raise ApiError(400, "bad_base64", f"{where} is not base64 (character {bad!r})", f"base64-encode the {_FORMATS}")
    data = _decode_base64(where, text)
    # "/" is a base64 digit (the first of every JPEG's encoding, "/9j/"), so "/etc/passwd" decodes; but only a
    # JPEG's bytes start with 0xFF, and nothing else that starts with "/" is an image.
    if not uri and text.startswith("/") and not data.startswith(b"\xff\xd8"):
        raise _location(where, text)
    return data


def _decode_base64(where: str, text: str) -> bytes:
    # Accept the URL-safe alphabet and missing padding (both common in browsers' and scripts' output).
    text = text.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, "bad_base64", f"{where} is not valid base64 ({exc})", "send standard base64") from exc


def _location(where: str, text: str) -> ApiError:
    return ApiError(
        400,
        "not_image_bytes",
        f"{where} looks like a path or URL ({text[:60]!r}); the service never reads files or fetches URLs",
        "read the file on your side and send its bytes base64-encoded",
    )
