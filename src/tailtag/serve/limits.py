"""The service's hard limits and the one error type every rejected request becomes.

Each limit bounds one resource an untrusted client could exhaust: request bytes (memory while reading),
images per request and pixels per image (decode memory and CPU: a 40 KB PNG can declare 50,000 x 50,000
pixels), the queue in front of the model (latency), requests in progress (memory of bodies being read),
wall time (a client trickling its body, or a model too slow for the load), and open connections with the
time a connection may take to send its request head (file descriptors: `connections`). A request over a limit gets
a 4xx (or 503 / 504) JSON body `{"error": {"code", "message", "fix"}}`, never a 500.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tailtag.errors import OptionError
from tailtag.images import PILLOW_MAX_PIXELS

#: Default `max_pixels` of the service: a 48 MP phone photo passes, a decompression bomb does not.
SERVE_MAX_PIXELS = 50_000_000


@dataclass(frozen=True)
class Limits:
    """What one `tailtag serve` process accepts and how it batches.

    Attributes:
        max_batch: most images the model scores in one forward pass (`--max-batch`).
        max_wait_ms: how long the first queued image waits for others to join its batch (`--max-wait-ms`);
            0 runs whatever is queued at once.
        max_images: most images in one request (`--max-images`); more is refused with 413.
        max_request_mb: most body bytes of one request, in MiB (`--max-request-mb`); checked against
            Content-Length before reading and against the bytes actually received while reading.
        max_pixels: most pixels (width x height from the file header) of one image (`--max-pixels`),
            checked before any pixel is decoded.
        timeout_s: wall-time limit of one request, reading its body included (`--timeout-s`); 504 after.
        max_queue: most images waiting for the model; a request that would overflow it gets 503 with
            Retry-After instead of an ever longer wait (`--max-queue`; 0: 8 batches, at least max_images).
        max_requests: most requests in progress at once (`--max-requests`); more get 503.
        decode_threads: threads decoding images next to the one model thread (`--decode-threads`).
        read_timeout_s: seconds a connection has to send a complete request head, from opening or from its
            previous response (`--read-timeout-s`); then it is closed (idle, half-sent and trickled heads).
        keep_alive_s: seconds an idle keep-alive connection stays open after a response (`--keep-alive-s`).
        max_connections: most open client connections (`--max-connections`); a new one beyond it closes
            the connection idle the longest, so idle connections can never lock out a new client.
    """

    max_batch: int = 32
    max_wait_ms: float = 10.0
    max_images: int = 16
    max_request_mb: float = 20.0
    max_pixels: int = SERVE_MAX_PIXELS
    timeout_s: float = 30.0
    max_queue: int = 0
    max_requests: int = 64
    decode_threads: int = 2
    read_timeout_s: float = 10.0
    keep_alive_s: float = 5.0
    max_connections: int = 512

    def __post_init__(self) -> None:
        if self.max_queue == 0 and _is_int(self.max_batch, 1) and _is_int(self.max_images, 1):
            object.__setattr__(self, "max_queue", max(8 * self.max_batch, self.max_images))
        problems = [
            f"{flag} must be {rule}, got {value!r}"
            for flag, value, ok, rule in (
                ("--max-batch", self.max_batch, _is_int(self.max_batch, 1), "an integer >= 1"),
                ("--max-wait-ms", self.max_wait_ms, _is_number(self.max_wait_ms, 0.0), "a number >= 0"),
                ("--max-images", self.max_images, _is_int(self.max_images, 1), "an integer >= 1"),
                ("--max-request-mb", self.max_request_mb, _is_number(self.max_request_mb, 1e-6), "a number > 0"),
                ("--max-pixels", self.max_pixels, _is_int(self.max_pixels, 1), "an integer >= 1"),
                ("--timeout-s", self.timeout_s, _is_number(self.timeout_s, 1e-3), "a number > 0"),
                ("--max-queue", self.max_queue, _is_int(self.max_queue, 1), "an integer >= 1"),
                ("--max-requests", self.max_requests, _is_int(self.max_requests, 1), "an integer >= 1"),
                ("--decode-threads", self.decode_threads, _is_int(self.decode_threads, 1), "an integer >= 1"),
                ("--read-timeout-s", self.read_timeout_s, _is_number(self.read_timeout_s, 1e-3), "a number > 0"),
                ("--keep-alive-s", self.keep_alive_s, _is_number(self.keep_alive_s, 1e-3), "a number > 0"),
                ("--max-connections", self.max_connections, _is_int(self.max_connections, 1), "an integer >= 1"),
            )
            if not ok
        ]
        if not problems and self.max_queue < self.max_images:
            problems.append(
                f"--max-queue ({self.max_queue}) must be >= --max-images ({self.max_images}), or a request "
                "with the most images allowed could never be queued"
            )
        if not problems and self.max_connections <= self.max_requests:
            problems.append(
                f"--max-connections ({self.max_connections}) must be > --max-requests ({self.max_requests}), "
                "or connections with requests in progress could leave no room for a new client"
            )
        if not problems and self.max_pixels > 2 * PILLOW_MAX_PIXELS:
            problems.append(
                f"--max-pixels {self.max_pixels:,} is over Pillow's hard limit of {2 * PILLOW_MAX_PIXELS:,}, "
                "which refuses such images anyway"
            )
        if problems:
            raise OptionError("bad service limits: " + "; ".join(problems) + "\n  fix: correct the flags named")

    @property
    def max_request_bytes(self) -> int:
        return int(self.max_request_mb * 1024 * 1024)

    def to_dict(self) -> dict[str, float | int]:
        """The limits as JSON, for /healthz and the startup message."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _is_int(value: object, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _is_number(value: object, low: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= low


class ApiError(Exception):
    """A request the service refuses: HTTP `status`, a stable machine-readable `code`, what and how to fix.

    Args:
        status: HTTP status, 4xx for the client's mistakes, 503 when busy, 504 on timeout.
        code: snake_case identifier clients can switch on, e.g. "too_many_pixels".
        message: what was wrong, naming the image (index and filename) or the field.
        fix: what the client should change.
        headers: extra response headers (Retry-After on 503).
    """

    def __init__(self, status: int, code: str, message: str, fix: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fix = status, code, message, fix
        self.headers = headers or {}

    def body(self) -> dict[str, dict[str, str]]:
        """The JSON body: {"error": {"code", "message", "fix"}}."""
        return {"error": {"code": self.code, "message": self.message, "fix": self.fix}}


def image_name(index: int, filename: str | None) -> str:
    """How errors name an image: "image 2 ('cat.jpg')", or "image 2" for a nameless one."""
    return f"image {index} ({filename!r})" if filename else f"image {index}"
