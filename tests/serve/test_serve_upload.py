"""`read_uploads` on its own: bodies arriving in arbitrary chunks, encodings, and the streamed byte limit."""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest

from tailtag.serve import ApiError, Limits, read_uploads


async def _chunks(body: bytes, size: int):
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _read(body: bytes, content_type: str, *, chunk: int = 7, length: bool = True, limits: Limits | None = None):
    header = str(len(body)) if length else None
    return asyncio.run(read_uploads(content_type, header, _chunks(body, chunk), limits or Limits()))


def _multipart(files) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://x/", files=files)
    return request.read(), request.headers["content-type"]


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_multipart_in_any_chunking(chunk):
    body, content_type = _multipart([("images", ("a.jpg", b"\xff\xd8abc")), ("image", ("b b.png", b"\x89PNG--x"))])
    uploads = _read(body, content_type, chunk=chunk)
    assert [(u.index, u.filename, u.data) for u in uploads] == [
        (0, "a.jpg", b"\xff\xd8abc"),
        (1, "b b.png", b"\x89PNG--x"),
    ]


def test_json_forms_decode_to_the_same_bytes():
    data = bytes(range(256)) * 3
    forms = [
        base64.b64encode(data).decode(),
        "data:image/png;base64," + base64.b64encode(data).decode(),
        base64.urlsafe_b64encode(data).decode().rstrip("="),
        base64.encodebytes(data).decode(),  # MIME line breaks
    ]
    body = ('{"images": [' + ",".join(f'"{f}"' for f in forms).replace("\n", "\\n") + "]}").encode()
    uploads = _read(body, "application/json; charset=utf-8")
    assert [u.data for u in uploads] == [data] * 4 and {u.filename for u in uploads} == {None}


def test_jpeg_base64_starting_with_slash_is_not_a_path():
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 30
    encoded = base64.b64encode(jpeg).decode()
    assert encoded.startswith("/9j/")
    assert _read(f'{{"images": ["{encoded}"]}}'.encode(), "application/json")[0].data == jpeg
    with pytest.raises(ApiError, match="looks like a path or URL") as refused:
        _read(b'{"images": ["/var/data/a.jpg"]}', "application/json")
    assert refused.value.status == 400 and refused.value.code == "not_image_bytes"


def test_streamed_bytes_are_counted_without_content_length():
    limits = Limits(max_request_mb=0.001)  # 1,048 bytes
    body, content_type = _multipart([("images", ("a.jpg", b"x" * 2000))])
    with pytest.raises(ApiError, match="the body exceeds 1,048 bytes") as refused:
        _read(body, content_type, length=False, limits=limits)
    assert refused.value.status == 413
    with pytest.raises(ApiError, match="Content-Length declares"):
        _read(body, content_type, length=True, limits=limits)


def test_too_many_images_stops_at_the_first_extra_part():
    limits = Limits(max_images=2)
    body, content_type = _multipart([("images", (f"{i}.jpg", b"x")) for i in range(3)])
    with pytest.raises(ApiError, match="more than 2 images") as refused:
        _read(body, content_type, limits=limits)
    assert refused.value.status == 413 and refused.value.code == "too_many_images"


def test_huge_part_header_is_refused():
    body = b'--xyz\r\nContent-Disposition: form-data; name="images"; filename="' + b"a" * 20_000 + b'"\r\n\r\n'
    with pytest.raises(ApiError, match="multipart body cannot be parsed") as refused:
        _read(body, "multipart/form-data; boundary=xyz", chunk=1000)
    assert refused.value.status == 400
