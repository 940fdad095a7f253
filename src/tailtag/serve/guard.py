"""Host and Origin checks: a web page the user visits must not reach the service on their machine.

Two browser attacks reach a service on localhost without any bug in it. DNS rebinding: a page on
`evil.example` re-points that name to 127.0.0.1, and the browser then sends its requests, and lets the page
read the answers, with `Host: evil.example`. Cross-site requests: any page can POST a multipart form to
`http://127.0.0.1:8000/v1/tags` (a "simple" request, sent without a CORS preflight). The defences are those
of Starlette's `TrustedHostMiddleware` (an allow-list of Host names) and of Django's CSRF origin check
(an unsafe method whose `Origin` is neither the request's own host nor an allowed origin is refused). This
middleware does both in one place and answers with the service's JSON error body, naming the flag that
allows the request (`TrustedHostMiddleware` answers in plain text).

Clients that are not browsers (curl, scripts) send no `Origin` and pass the origin check; they still need
an allowed Host.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from tailtag.serve.limits import ApiError

#: Host names allowed by default: the loopback names (the bound address is added by `tailtag serve`).
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")

#: Methods that change nothing; the origin check applies to the others.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def host_name(host_header: str) -> str:
    """The name in a Host header, lower case, without port and IPv6 brackets: "[::1]:8000" -> "::1"."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _matches(name: str, patterns: Sequence[str]) -> bool:
    """`name` equals a pattern, or ends with the domain of a "*.domain" pattern (Starlette's rule)."""
    return any(p == "*" or name == p or (p.startswith("*.") and name.endswith(p[1:])) for p in patterns)


class HostOriginGuard:
    """ASGI middleware refusing requests whose Host is not allowed (400) and cross-origin unsafe requests (403).

    Args:
        app: the application behind it.
        allowed_hosts: host names (no port); "*.example.com" matches sub-domains; "*" allows any.
        allowed_origins: origins ("https://app.example.com", scheme://host[:port]) whose pages may send
            unsafe requests besides the service's own; "*" allows any.
        on_reject: called with the error code of each refusal (the service's counters).
    """

    def __init__(
        self,
        app: ASGIApp,
        allowed_hosts: Sequence[str] = LOCAL_HOSTS,
        allowed_origins: Sequence[str] = (),
        on_reject: Callable[[str], None] | None = None,
    ):
        self.app = app
        self.allowed_hosts = [host_name(h) if h != "*" and not h.startswith("*.") else h.lower() for h in allowed_hosts]
        self.allowed_origins = [o.rstrip("/").lower() for o in allowed_origins]
        self.on_reject = on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        error = self.check(scope)
        if error is None:
            await self.app(scope, receive, send)
            return
        if self.on_reject is not None:
            self.on_reject(error.code)
        await JSONResponse(error.body(), status_code=error.status)(scope, receive, send)

    def check(self, scope: Scope) -> ApiError | None:
        """The refusal of this request, or None when it may pass."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if not _matches(host_name(host), self.allowed_hosts):
            return ApiError(
                400,
                "host_not_allowed",
                f"Host {host!r} is not allowed (allowed: {', '.join(self.allowed_hosts)}); a page that rebinds "
                "its own domain to this machine would send such a Host",
                f"reach the service by an allowed name, or start it with --allowed-host {host_name(host) or 'NAME'} "
                "(--allowed-host '*' turns the check off)",
            )
        origin = headers.get("origin")
        if scope["method"] in SAFE_METHODS or origin is None or self._origin_allowed(origin, host):
            return None
        return ApiError(
            403,
            "origin_not_allowed",
            f"{scope['method']} from a page of origin {origin!r} is refused: only the service's own page may send "
            "such requests unless the origin is allowed",
            f"start the service with --allowed-origin {origin} to let pages of that origin use it",
        )

    def _origin_allowed(self, origin: str, host: str) -> bool:
        origin = origin.rstrip("/").lower()
        if "*" in self.allowed_origins or origin in self.allowed_origins:
            return True
        return origin != "null" and urlsplit(origin).netloc == host.strip().lower()  # same origin as the page
