"""What one HTTP connection may cost: time limits on every stage of a request.

eventlet's WSGI server waits for a client as long as it likes: for the next
request on a kept-alive connection, for headers that trickle in, for a body
announced by ``Content-Length`` and never sent. A worker that reads the body
waits with it, and a service has ten workers: ten slow uploads stopped intake
answering even ``/healthz``.

So every stage has a deadline, counted on the connection's own green thread:

* **idle** (``HTTP_IDLE_TIMEOUT``): the request line of the next request —
  on a new or a kept-alive connection — must arrive within N seconds, else
  the connection is closed (silently: nobody asked anything).
* **headers** (``HTTP_HEADER_TIMEOUT``): once the request line is in, the
  headers must be complete within N seconds, else ``408`` and close.
* **body** (``HTTP_BODY_TIMEOUT`` + ``HTTP_BODY_MIN_RATE``): the body must
  arrive within N seconds, plus one second for every ``MIN_RATE`` bytes
  received (a 20 MB roster on a slow line is not a slow-loris); past that,
  reading it fails with :class:`SlowClient` — the entrypoint answers ``408``
  and the connection is closed.
* every socket operation (a client that does not read its answer) is bounded
  by the body timeout.

The entrypoint reads the whole body under these limits *before* it takes a
worker (:mod:`labornet_shared.http`), so a slow client costs one green
thread, never a worker.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import eventlet
from eventlet.wsgi import Input
from nameko.web.server import HttpOnlyProtocol

from labornet_shared.problems import PROBLEM_MEDIA_TYPE, FieldError, invalid

#: a body is read in pieces of this size, the deadline checked before each
PIECE = 64 * 1024
#: an unread body left after an answer (a refused upload) is read and thrown
#: away up to this size to keep the connection; beyond it, or past the body
#: deadline, the connection is closed instead
DISCARD_LIMIT = 64 * 1024

RESPONSE_408 = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
)


class SlowClient(TimeoutError):
    """The client did not send its request (or body) in time.

    A ``TimeoutError`` (an ``OSError``): eventlet closes the connection when
    one comes out of a read it does itself (discarding an unread body).
    """


@dataclass(frozen=True)
class ConnectionLimits:
    """The time limits of one server's connections (seconds, bytes/s)."""

    idle_timeout: float = 15.0
    header_timeout: float = 10.0
    body_timeout: float = 20.0
    body_min_rate: float = 4096.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ConnectionLimits:
        """The ``HTTP_*`` settings of a service's config (defaults above)."""
        defaults = cls()
        return cls(
            idle_timeout=float(config.get("HTTP_IDLE_TIMEOUT", defaults.idle_timeout)),
            header_timeout=float(
                config.get("HTTP_HEADER_TIMEOUT", defaults.header_timeout)
            ),
            body_timeout=float(config.get("HTTP_BODY_TIMEOUT", defaults.body_timeout)),
            body_min_rate=float(
                config.get("HTTP_BODY_MIN_RATE", defaults.body_min_rate)
            ),
        )


class DeadlineInput(Input):
    """eventlet's request body stream, read against the body deadline."""

    limits: ConnectionLimits
    started: float
    received: int

    @classmethod
    def around(cls, original: Input, limits: ConnectionLimits) -> DeadlineInput:
        """The same stream (same state), now with a deadline from this moment."""
        bounded = cls.__new__(cls)
        bounded.__dict__.update(original.__dict__)
        bounded.limits = limits
        bounded.started = time.monotonic()
        bounded.received = 0
        return bounded

    def _remaining(self) -> float:
        deadline = (
            self.started
            + self.limits.body_timeout
            + self.received / self.limits.body_min_rate
        )
        return deadline - time.monotonic()

    def _timed(self, read: Any, size: int | None) -> bytes:
        remaining = self._remaining()
        if remaining <= 0:
            raise SlowClient("request body too slow")
        with eventlet.Timeout(remaining, SlowClient("request body too slow")):
            data: bytes = read(size)
        self.received += len(data)
        return data

    def read(self, length: int | None = None) -> bytes:
        """At most ``length`` bytes (all when None), one piece at a time."""
        if length is None or length < 0:
            parts = []
            while piece := self.read(PIECE):
                parts.append(piece)
            return b"".join(parts)
        return self._timed(super().read, min(length, PIECE))

    def readline(self, size: int | None = None) -> bytes:
        """One line, within the deadline."""
        return self._timed(super().readline, size)

    def discard(self, buffer_size: int = 16 << 10) -> None:
        """Throw away a small unread rest; refuse (close) a large one."""
        if self.chunked_input or (
            (self.content_length or 0) - self.position > DISCARD_LIMIT
        ):
            raise SlowClient("unread body too large to discard")
        super().discard(buffer_size)


class GuardedProtocol(HttpOnlyProtocol):
    """nameko's HTTP protocol with the idle, header and body deadlines."""

    server: Any

    def _read_request_line(self) -> Any:
        limits: ConnectionLimits = self.server.connection_limits
        try:
            with eventlet.Timeout(limits.idle_timeout, SlowClient("idle")):
                return super()._read_request_line()
        except SlowClient:
            self.close_connection = 1
            return ""

    def parse_request(self) -> bool:
        """The headers, within the header deadline (408 past it); a framing
        eventlet would refuse with a bare 400 gets a problem+json instead."""
        limits: ConnectionLimits = self.server.connection_limits
        try:
            with eventlet.Timeout(limits.header_timeout, SlowClient("headers")):
                parsed = bool(super().parse_request())
        except SlowClient:
            self.close_connection = 1
            self.wfile.write(RESPONSE_408)
            self.wfile.flush()
            return False
        if parsed and (wrong := _bad_framing(self.headers)):
            self.close_connection = 1
            self.wfile.write(_problem_400(wrong))
            self.wfile.flush()
            return False
        return parsed

    def get_environ(self) -> dict[str, Any]:
        """eventlet's environ, its body stream bounded in time; and a way for
        the application to close the connection after its answer."""
        environ: dict[str, Any] = super().get_environ()
        bounded = DeadlineInput.around(
            environ["eventlet.input"], self.server.connection_limits
        )
        environ["wsgi.input"] = environ["eventlet.input"] = bounded
        environ["labornet.close_connection"] = self._close_after_answer
        return environ

    def _close_after_answer(self) -> None:
        # eventlet then sends "Connection: close" and does not wait for the
        # rest of a body nobody will read
        self.close_connection = 1


def _bad_framing(headers: Any) -> str | None:
    """The header that makes the body's length unreadable, if any: a
    Content-Length that is not a whole number, or one sent beside
    Transfer-Encoding (request smuggling's favourite ambiguity)."""
    length = headers.get("content-length")
    if length is None:
        return None
    if not length.strip().isdigit() or not length.strip().isascii():
        return "Content-Length"
    if headers.get("transfer-encoding") is not None:
        return "Transfer-Encoding"
    return None


def _problem_400(header: str) -> bytes:
    body = invalid(FieldError(header, "invalid")).to_json("en").encode()
    return (
        b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
        b"Content-Type: " + PROBLEM_MEDIA_TYPE.encode() + b"\r\n"
        b"Cache-Control: no-store\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
