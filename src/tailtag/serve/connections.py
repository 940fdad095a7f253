"""Connection-level limits of the service: a deadline for each request head and a cap on open connections.

uvicorn's h11 protocol bounds only the idle time *after* a response (`timeout_keep_alive`); a connection
that never sends a byte, or sends half a request line and goes silent, or trickles its head one byte at a
time, holds its file descriptor for ever (measured on uvicorn 0.55: 800 such connections were all still
open after 40 s, and 1,100 of them made `/healthz` time out at the common 1,024 descriptor limit, because
the server stops accepting at that limit). This is the "slowloris" attack (R. Hansen, 2009); the standard
defences are a header read deadline and a connection cap (Apache `mod_reqtimeout`, nginx
`client_header_timeout`, Go's `http.Server.ReadHeaderTimeout`). `GuardedH11Protocol` adds both:

- read deadline: from the moment a connection opens, or its previous response ends, the client has
  `read_timeout_s` to send a complete request head (an absolute deadline: bytes arriving do not extend
  it). A request the application has accepted is bounded by the application's own `--timeout-s`, which
  covers reading its body; body bytes still arriving after the response count against the next deadline.
- connection cap: when a new connection would exceed `max_connections`, the connection idle the longest
  (no request in progress) is closed to make room, so a flood of idle connections can never lock out a
  new client (such as a health check); only when every connection has a request in progress is the new
  one closed at once. uvicorn's own `limit_concurrency` is not used: it counts idle connections too and
  answers 503 to every request once that many are open, which is the lock-out this avoids.

The request head itself is capped at `MAX_HEAD_BYTES` (h11 answers 400 beyond it).
"""

from __future__ import annotations

import asyncio
import resource
import warnings

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from tailtag.errors import OptionError

#: Most bytes of a request line plus headers (h11's incomplete-event limit, uvicorn's default, set explicitly).
MAX_HEAD_BYTES = 16 * 1024

#: Listen backlog, and the most connections the event loop accepts in one go before any of them runs and
#: the cap can close idle ones. Small, so a flood of new connections overshoots the cap by little.
BACKLOG = 256

#: Descriptors above `max_connections` for floods: connections accepted in the few loop iterations between
#: accepting and closing (measured: 2,000 loopback connects in a row, client in the same process, stay
#: within it; tests/serve/test_serve_connections.py runs under exactly this budget).
BURST_FDS = 4 * BACKLOG

#: File descriptors the process needs besides client connections: listening socket, event loop, model and
#: scratch files of the decode threads, torch's and Python's own.
RESERVED_FDS = 128


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head deadline and a cap on open connections (see the module).

    Configure a subclass with `guarded_protocol`; uvicorn creates one instance per connection.
    """

    read_timeout_s: float = 10.0
    max_connections: int = 512

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._read_timer: asyncio.TimerHandle | None = None
        self._idle_since = self.loop.time()
        if len(self.connections) > self.max_connections and not self._evict_idle():
            self._close()  # every other connection has a request in progress: no room
            return
        self._arm_read_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._idle_since = self.loop.time()
            self._arm_read_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_deadline()
        super().connection_lost(exc)

    @property
    def busy(self) -> bool:
        """True while the application handles a request of this connection (its --timeout-s bounds it)."""
        return self.cycle is not None and not self.cycle.response_complete

    def _arm_read_deadline(self) -> None:
        self._cancel_read_deadline()
        self._read_timer = self.loop.call_later(self.read_timeout_s, self._read_deadline_passed)

    def _cancel_read_deadline(self) -> None:
        if getattr(self, "_read_timer", None) is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_deadline_passed(self) -> None:
        self._read_timer = None
        if not self.busy:  # no complete request head in read_timeout_s (idle, half-sent or trickled)
            self._close()

    def _evict_idle(self) -> bool:
        """Close the connection idle the longest, other than this one; False if none is idle."""
        idle = [c for c in self.connections if c is not self and isinstance(c, GuardedH11Protocol) and not c.busy]
        if not idle:
            return False
        min(idle, key=lambda c: c._idle_since)._close()
        return True

    def _close(self) -> None:
        self._cancel_read_deadline()
        if self.transport.is_closing():
            return
        try:
            self.conn.send(h11.ConnectionClosed())
        except h11.LocalProtocolError:  # mid-response state: closing the transport is all that is left
            pass
        self.transport.close()


def guarded_protocol(read_timeout_s: float, max_connections: int) -> type[GuardedH11Protocol]:
    """A `GuardedH11Protocol` subclass with these limits, for `uvicorn.Config(http=...)`."""
    settings = {"read_timeout_s": read_timeout_s, "max_connections": max_connections}
    return type("GuardedH11Protocol", (GuardedH11Protocol,), settings)


def ensure_fd_limit(max_connections: int) -> int:
    """Make room in the process's file-descriptor limit for `max_connections` client sockets plus a burst of
    `BURST_FDS` connections accepted at once; returns the soft limit in force.

    Raises the soft limit (`ulimit -n`) up to the hard limit when needed, as servers commonly do. A hard
    limit too low for the burst only warns (the event loop pauses accepting for 1 s at the limit while the
    cap closes idle connections); one too low for `max_connections` itself is an `OptionError` naming the flag.
    """
    needed = max_connections + BURST_FDS + RESERVED_FDS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return soft
    if hard != resource.RLIM_INFINITY and hard < max_connections + RESERVED_FDS:
        raise OptionError(
            f"--max-connections {max_connections} needs {max_connections + RESERVED_FDS} file descriptors "
            f"({RESERVED_FDS} for the service itself), but this process may open at most {hard} (ulimit -Hn)\n"
            f"  fix: use --max-connections {max(1, hard - RESERVED_FDS)} or less, or raise the hard limit"
        )
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        warnings.warn(
            f"the file-descriptor limit ({hard}, ulimit -Hn) leaves no room for a burst of {BURST_FDS} new "
            f"connections on top of --max-connections {max_connections}: during such a burst the service stops "
            "accepting for about 1 s at a time (raise the hard limit to avoid it)",
            stacklevel=2,
        )
    return target
