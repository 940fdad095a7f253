"""Running the app under uvicorn: in the foreground (`tailtag serve`) or in a background thread (tests,
benchmarks, notebooks). The socket is bound here first, so a busy port is a clear `TailtagError` naming
`--port` rather than uvicorn's log line and exit, and port 0 gives a free port whose number is known.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from fastapi import FastAPI

from tailtag.errors import TailtagError
from tailtag.serve.connections import BACKLOG, MAX_HEAD_BYTES, guarded_protocol

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); TailtagError naming --host / --port if that fails."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TailtagError(f"--host {host!r} cannot be resolved ({exc})\n  fix: pass an IP address") from exc
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise TailtagError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc})\n"
            "  fix: pick another --port (0 picks a free one), or stop the process holding it"
        ) from exc
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def uvicorn_config(app: FastAPI, log_level: str = "info", access_log: bool = True) -> uvicorn.Config:
    """uvicorn settings for the service made by `create_app`: one process (the model is not fork-safe to
    share), h11 with the connection limits of the app's `Limits` (read deadline, connection cap, keep-alive)."""
    limits = app.state.service.limits
    return uvicorn.Config(
        app,
        log_level=log_level,
        access_log=access_log,
        lifespan="on",
        http=guarded_protocol(limits.read_timeout_s, limits.max_connections),
        timeout_keep_alive=limits.keep_alive_s,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        backlog=BACKLOG,
    )


class BackgroundServer:
    """The app served by uvicorn in a daemon thread; a context manager whose `url` is ready inside the block.

    Example:
        >>> with BackgroundServer(create_app(tagger, Limits())) as server:  # doctest: +SKIP
        ...     httpx.get(server.url + "/healthz").json()["status"]
        'ok'
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"):
        self.sock = bind(host, port)
        self.url = url_of(self.sock)
        self.server = uvicorn.Server(uvicorn_config(app, log_level=log_level, access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.sock.close()
                raise TailtagError(f"the service at {self.url} did not start (see the log above)")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()
