"""Slow and idle clients on real loopback sockets: the read deadline closes them, the cap keeps room for others."""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import selectors
import socket
import threading
import time

import httpx
import pytest

from tailtag.errors import OptionError
from tailtag.inference import Tagger
from tailtag.serve import BackgroundServer, Limits, create_app
from tailtag.serve.connections import BURST_FDS, RESERVED_FDS, ensure_fd_limit

#: Bytes a half-sent request stops after: part of a request line, never the blank line that ends a head.
HALF_SENT = b"GET /healthz HTTP/1.1\r\nHo"


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def _connect_when_free(url: str, patience_s: float = 20.0) -> socket.socket:
    """`_connect`, waiting out a moment of descriptor shortage: on a loaded machine the server's accept loop can
    run ahead of its eviction for a burst (asyncio accepts a batch before any connection's code runs), and the
    test's tight limit is shared by both sides. A server that never evicts keeps the shortage and fails."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            return _connect(url)
        except OSError as error:
            if error.errno != errno.EMFILE or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _wait_closed(socks: list[socket.socket], timeout_s: float) -> dict[socket.socket, float]:
    """When (time.monotonic) the server closed each socket, within `timeout_s`; sockets still open are absent.

    A close is the end of the stream or a reset; a socket that receives bytes instead was answered, which a
    client that never completed a request must not be.
    """
    closed: dict[socket.socket, float] = {}
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout_s
        while len(closed) < len(socks) and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=max(0.0, deadline - time.monotonic())):
                try:
                    data = key.fileobj.recv(4096)
                except OSError:  # reset: closed with unread bytes in its buffer
                    data = b""
                assert data == b"", f"a client that sent no complete request got an answer: {data[:80]!r}"
                closed[key.fileobj] = time.monotonic()
                selector.unregister(key.fileobj)
    return closed


@contextlib.contextmanager
def _fd_limit(needed: int):
    """Set the soft file-descriptor limit to `needed` for the block (a real limit for the server to meet)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"this test needs {needed} file descriptors; the hard limit is {hard} (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_healthz_answers_with_2000_idle_and_half_sent_connections_open(small_run):
    # 2,000 client sockets and the server share this process: the descriptor limit is what both need with the
    # cap, and far below what the server would take without it (it held every connection for ever: issue 15).
    clients, cap, read_timeout_s = 2000, 128, 2.0
    app = create_app(
        Tagger.load(small_run), Limits(max_requests=16, max_connections=cap, read_timeout_s=read_timeout_s)
    )
    in_use = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 256
    socks: list[socket.socket] = []
    with _fd_limit(in_use + clients + cap + BURST_FDS + RESERVED_FDS), BackgroundServer(app) as server:
        try:
            for i in range(clients):
                sock = _connect_when_free(server.url)
                socks.append(sock)
                if i % 2:
                    with contextlib.suppress(OSError):  # an evicted connection may already be reset
                        sock.sendall(HALF_SENT)
            health = httpx.get(f"{server.url}/healthz", timeout=10)  # a new client still gets in
            assert health.status_code == 200 and health.json()["status"] == "ok"
            held = server.server.server_state.connections
            deadline = time.monotonic() + 30
            while len(held) > cap and time.monotonic() < deadline:  # the cap closes the oldest idle ones
                time.sleep(0.01)
            assert len(held) <= cap, f"the server holds {len(held)} connections, over --max-connections {cap}"
            closed = _wait_closed(socks, timeout_s=read_timeout_s + 30)  # the read deadline closes the rest
            assert len(closed) == clients, f"{clients - len(closed)} idle connections still open"
            assert not held and httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
        finally:
            for sock in socks:
                sock.close()


def _read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response (head and Content-Length body) from `sock`."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    while len(body) < length:
        body += sock.recv(65536)
    return data


def _trickle_head(sock: socket.socket, stop: threading.Event) -> None:
    """Send a request head one byte per 0.1 s, never finishing it (a slowloris client)."""
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 10_000
    for byte in head:
        if stop.wait(0.1):
            return
        try:
            sock.send(bytes([byte]))
        except OSError:
            return


def test_idle_half_sent_and_trickled_heads_are_closed_after_the_read_timeout(small_run):
    read_timeout_s, keep_alive_s = 1.0, 30.0  # a keep-alive far longer: only the read deadline can close these
    limits = Limits(read_timeout_s=read_timeout_s, keep_alive_s=keep_alive_s)
    with BackgroundServer(create_app(Tagger.load(small_run), limits)) as server:
        start = time.monotonic()
        idle, half, trickled, answered = (_connect(server.url) for _ in range(4))
        half.sendall(HALF_SENT)
        # a complete request is answered, then its connection's deadline for the next head starts again
        answered.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        reply = _read_response(answered)
        assert reply.startswith(b"HTTP/1.1 200"), reply[:80]
        answered_at = time.monotonic()
        answered.sendall(b"GET /heal")
        stop = threading.Event()
        trickler = threading.Thread(target=_trickle_head, args=(trickled, stop), daemon=True)
        trickler.start()
        try:
            closed = _wait_closed([idle, half, trickled, answered], timeout_s=20)
        finally:
            stop.set()
            trickler.join(5)
            for sock in (idle, half, trickled, answered):
                sock.close()
    assert len(closed) == 4, "a connection without a complete request head was never closed"
    for sock in (idle, half, trickled):
        assert closed[sock] - start >= read_timeout_s  # a deadline, never early
    assert closed[answered] - answered_at >= read_timeout_s


def test_a_slow_but_complete_client_is_served(small_run):
    limits = Limits(read_timeout_s=1.0)
    with BackgroundServer(create_app(Tagger.load(small_run), limits)) as server:
        sock = _connect(server.url)
        with sock:
            for part in (b"GET /healthz HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"\r\n"):
                sock.sendall(part)
                time.sleep(0.2)  # well within the deadline: a slow client, not an attack
            assert _read_response(sock).startswith(b"HTTP/1.1 200")


def test_fd_limit_is_raised_to_fit_or_the_flag_is_named(monkeypatch):
    calls = []
    monkeypatch.setattr(resource, "setrlimit", lambda _, limits: calls.append(limits))
    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 4096))
    assert ensure_fd_limit(512) == 512 + BURST_FDS + RESERVED_FDS and calls == [(512 + BURST_FDS + RESERVED_FDS, 4096)]
    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 1024))
    with pytest.warns(UserWarning, match="no room for a burst of"):
        assert ensure_fd_limit(512) == 1024
    with pytest.raises(
        OptionError, match=r"(?s)--max-connections 1000 needs 1128 .* at most 1024 .*fix: use --max-conn"
    ):
        ensure_fd_limit(1000)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"read_timeout_s": 0}, "--read-timeout-s must be a number > 0"),
        ({"keep_alive_s": float("nan")}, "--keep-alive-s must be a number > 0"),
        ({"max_connections": 0}, "--max-connections must be an integer >= 1"),
        ({"max_connections": 64, "max_requests": 64}, "--max-connections (64) must be > --max-requests (64)"),
    ],
)
def test_connection_limits_name_the_flag(kwargs, message):
    with pytest.raises(OptionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Limits(**kwargs)
