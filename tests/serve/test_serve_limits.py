"""Every malformed or oversized request gets its 4xx status and a JSON error naming the problem and the fix;
none reaches the catch-all 500, and the service keeps serving. Limits: see conftest.TEST_LIMITS."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from collections import Counter

import httpx
import pytest
from PIL import Image

from tailtag.errors import OptionError
from tailtag.serve import Limits


def _forged_png(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height but holds almost no data: a decompression bomb's header."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    data = b"IDAT" + zlib.compress(b"\0" * 64)
    idat = struct.pack(">I", len(data) - 4) + data + struct.pack(">I", zlib.crc32(data))
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat + b"\0\0\0\0IEND\xaeB`\x82"


def _flat_png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 90, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


def _files(*named: tuple[str, bytes], field: str = "images"):
    return [(field, (name, data, "application/octet-stream")) for name, data in named]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def jpeg(images) -> bytes:
    return images[0].read_bytes()


def _cases(jpeg: bytes, make_png) -> dict[str, tuple[dict, int, str, str]]:
    """name -> (httpx.post keyword arguments, status, error code, text the message must contain)."""
    truncated = jpeg[: len(jpeg) // 2]
    big = make_png(620, 620)  # ~1.15 MB: over the 1 MiB request limit
    flat = _flat_png(1000, 1000)  # 1,000,000 pixels: exactly the limit, a few KB
    return {
        "no content type": ({"content": b"abc"}, 415, "unsupported_media_type", "(none)"),
        "text/plain": ({"content": b"abc", "headers": {"content-type": "text/plain"}}, 415, "unsupported_media_type",
                       "text/plain"),
        "bad json": ({"content": b"{images: [", "headers": {"content-type": "application/json"}}, 400, "bad_json",
                     "not valid JSON"),
        "deep json": ({"content": b"[" * 200_000, "headers": {"content-type": "application/json"}}, 400, "bad_json",
                      "nested too deeply"),
        "json list": ({"json": ["abc"]}, 400, "bad_json", "got list"),
        "json no images": ({"json": {"image": "abc"}}, 400, "bad_json", "'image'"),
        "json path key": ({"json": {"images": [], "path": "/etc/passwd"}}, 400, "unknown_field", "'path'"),
        "json images not list": ({"json": {"images": _b64(jpeg)}}, 400, "bad_json", "must be a list"),
        "json item not string": ({"json": {"images": [12]}}, 400, "bad_json", "images[0] must be a base64 string"),
        "json absolute path": ({"json": {"images": ["/etc/passwd"]}}, 400, "not_image_bytes", "/etc/passwd"),
        "json relative path": ({"json": {"images": [_b64(jpeg), "../secret.jpg"]}}, 400, "not_image_bytes",
                               "images[1]"),
        "json file url": ({"json": {"images": ["file:///etc/passwd"]}}, 400, "not_image_bytes", "file:///etc"),
        "json http url": ({"json": {"images": ["http://169.254.169.254/x.jpg"]}}, 400, "not_image_bytes", "URL"),
        "json windows path": ({"json": {"images": ["C:\\\\data\\\\a.jpg"]}}, 400, "not_image_bytes", "path"),
        "bad base64 char": ({"json": {"images": ["abc$def"]}}, 400, "bad_base64", "'$'"),
        "bad base64 padding": ({"json": {"images": ["QQ==QQ=="]}}, 400, "bad_base64", "not valid base64"),
        "data uri not base64": ({"json": {"images": ["data:image/png,abc"]}}, 400, "bad_base64", "without ;base64"),
        "zero images json": ({"json": {"images": []}}, 400, "no_images", "no images"),
        "zero images multipart": ({"files": {}, "data": {}, "headers": {"content-type": "multipart/form-data; "
                                   "boundary=xyz"}, "content": b"--xyz--\r\n"}, 400, "no_images", "no images"),
        "no boundary": ({"content": b"x", "headers": {"content-type": "multipart/form-data"}}, 400, "bad_multipart",
                        "boundary"),
        "broken multipart": ({"content": b"--xyz\r\nContent-Disposition: form-data; name=\"images\"; filename=\"a\""
                              b"\r\n\r\nabc", "headers": {"content-type": "multipart/form-data; boundary=xyz"}}, 400,
                             "bad_multipart", "multipart"),
        "unknown field": ({"files": _files(("a.jpg", jpeg), field="photo")}, 400, "unknown_field", "'photo'"),
        "urlencoded form": ({"data": {"images": "/etc/passwd"}}, 415, "unsupported_media_type", "urlencoded"),
        "text field": ({"data": {"images": "/etc/passwd"}, "files": _files(("a.jpg", jpeg))}, 400, "not_a_file",
                       "text field"),
        "too many multipart": ({"files": _files(*[(f"{i}.jpg", jpeg) for i in range(5)])}, 413, "too_many_images",
                               "holds more than 4 images"),
        "too many json": ({"json": {"images": [_b64(jpeg)] * 5}}, 413, "too_many_images", "holds 5 images"),
        "body too large": ({"files": _files(("big.png", big))}, 413, "request_too_large", "Content-Length declares"),
        "body too large chunked": ({"content": iter([b"x" * 65536] * 20), "headers": {"content-type":
                                    "application/json"}}, 413, "request_too_large", "the body exceeds"),
        "zero bytes": ({"files": _files(("ok.jpg", jpeg), ("empty.jpg", b""))}, 422, "empty_image",
                       "image 1 ('empty.jpg') is empty"),
        "truncated jpeg": ({"files": _files(("half.jpg", truncated))}, 422, "bad_image", "image 0 ('half.jpg'): "
                           "truncated"),
        "corrupt jpeg": ({"files": _files(("c.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 200))}, 422, "bad_image",
                         "corrupt JPEG"),
        "not an image": ({"files": _files(("page.jpg", b"<!doctype html><html>404</html>"))}, 422, "bad_image",
                         "HTML"),
        "two bad images": ({"files": _files(("a.jpg", b""), ("b.jpg", b"xx"))}, 422, "empty_image",
                           "and 1 more unusable image"),
        "bad base64 image": ({"json": {"images": [_b64(b"GIF89a nonsense")]}}, 422, "bad_image", "image 0: corrupt"),
        "pixels over limit": ({"files": _files(("ok.png", flat), ("wide.png", _flat_png(1100, 1000)))}, 413,
                              "too_many_pixels", "image 1 ('wide.png') declares 1,100 x 1,000 = 1,100,000 pixels"),
        "forged bomb header": ({"files": _files(("bomb.png", _forged_png(12_000, 12_000)))}, 413, "too_many_pixels",
                               "144,000,000 pixels"),
        "thin strip": ({"files": _files(("strip.png", _flat_png(1, 20_000)))}, 413, "too_many_pixels",
                       "is 1 x 20,000; resizing its shorter side to 73 px for the model would make 106,580,000"),
        "bomb over pillow limit": ({"json": {"images": [_b64(_forged_png(100_000, 100_000))]}}, 413,
                                   "too_many_pixels", "image 0 declares more pixels than Pillow's hard limit"),
    }  # fmt: skip


def test_malformed_requests_get_json_errors(service, jpeg, make_png):
    cases = _cases(jpeg, make_png)
    before = httpx.get(f"{service}/healthz").json()
    failures = []
    for name, (kwargs, status, code, text) in cases.items():
        response = httpx.post(f"{service}/v1/tags", timeout=30, **kwargs)
        body = response.json() if response.headers.get("content-type") == "application/json" else None
        error = (body or {}).get("error", {})
        if response.status_code != status or error.get("code") != code or text not in error.get("message", ""):
            failures.append(f"{name}: {response.status_code} {response.text[:300]}")
        elif not error.get("fix"):
            failures.append(f"{name}: no fix in {error}")
    assert not failures, "\n".join(failures)
    after = httpx.get(f"{service}/healthz").json()
    assert after["internal_errors"] == 0
    counted = Counter(after["rejected"]) - Counter(before["rejected"])
    assert counted == Counter(code for _, _, code, _ in cases.values())
    assert after["requests_served"] == before["requests_served"]


def test_wrong_method_and_unknown_path(service):
    response = httpx.get(f"{service}/v1/tags")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
    response = httpx.delete(f"{service}/healthz")
    assert response.status_code == 405
    response = httpx.post(f"{service}/v2/tags", json={"images": []})
    assert response.status_code == 404 and "POST /v2/tags" in response.json()["error"]["message"]


def test_bad_content_length_is_refused(service):
    import socket

    host, port = service.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /v1/tags HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 99999999999\r\n\r\n{}")  # fmt: skip
        reply = b""
        while b"}}" not in reply:  # the headers and the JSON body may arrive in separate segments
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
        reply = reply.decode("latin-1")
    assert reply.startswith("HTTP/1.1 413") and "request_too_large" in reply


def test_service_keeps_serving_after_bad_requests(service, images, jpeg):
    for _ in range(3):
        httpx.post(f"{service}/v1/tags", files=_files(("x.jpg", jpeg[:100])))
        httpx.post(f"{service}/v1/tags", content=b"\x00" * 10, headers={"content-type": "application/json"})
    response = httpx.post(f"{service}/v1/tags", files=_files((images[0].name, jpeg)))
    assert response.status_code == 200 and response.json()["results"][0]["tags"] is not None
    assert httpx.get(f"{service}/healthz").json()["internal_errors"] == 0


def test_other_modes_and_formats_are_accepted(service):
    image = Image.new("RGB", (80, 60), (200, 40, 40))
    encoded = []
    for mode, fmt in (("CMYK", "JPEG"), ("P", "PNG"), ("I;16", "PNG"), ("RGB", "WEBP")):
        buffer = io.BytesIO()
        image.convert(mode if mode != "I;16" else "L").convert(mode).save(buffer, format=fmt)
        encoded.append(_b64(buffer.getvalue()))
    response = httpx.post(f"{service}/v1/tags", json={"images": encoded})
    assert response.status_code == 200, response.text
    assert len(response.json()["results"]) == 4


@pytest.mark.parametrize(
    ("kwargs", "flag"),
    [
        ({"max_batch": 0}, "--max-batch"),
        ({"max_wait_ms": -1}, "--max-wait-ms"),
        ({"max_images": 2.5}, "--max-images"),
        ({"max_request_mb": 0}, "--max-request-mb"),
        ({"max_pixels": 0}, "--max-pixels"),
        ({"max_pixels": 10**12}, "Pillow's hard limit"),
        ({"timeout_s": float("nan")}, "--timeout-s"),
        ({"max_queue": 3, "max_images": 4}, "--max-queue (3) must be >= --max-images (4)"),
        ({"decode_threads": 0}, "--decode-threads"),
    ],
)
def test_limits_name_the_bad_flag(kwargs, flag):
    with pytest.raises(OptionError, match=flag.replace("(", r"\(").replace(")", r"\)")):
        Limits(**kwargs)


def test_limits_defaults():
    limits = Limits()
    assert limits.max_queue == 256 and limits.max_request_bytes == 20 * 1024 * 1024
    assert Limits(max_batch=1, max_images=16).max_queue == 16
