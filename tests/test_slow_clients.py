"""Slow and idle clients against every service (issue 13, point 1).

Ten connections that sent headers and three bytes of a body used to hold
intake's ten workers until they hung up: ``/healthz`` stopped answering and
no stalled connection was ever closed. Here 50 stalled connections — slow
bodies, half-sent headers, connections that say nothing — are held open
against each service while ordinary requests keep being answered; and with
short deadlines every stalled connection is closed by the service.
"""

from __future__ import annotations

import random
import select
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import eventlet
import pytest

from labornet_shared.tokens import issue_token
from labornet_testkit.harness import case_payload

#: per service: a POST whose body a worker reads, and whether it needs a token
#: (intake takes cases from anyone), and an ordinary authenticated read
SERVICES = {
    "intake": ("/v1/cases", False, "/v1/cases"),
    "registry": ("/v1/agents", True, "/v1/agents"),
    "routing": ("/v1/rules", True, "/v1/rules"),
    "notify": ("/v1/subscriptions", True, "/v1/subscriptions"),
}
SLOW_BODIES, HALF_HEADERS, SILENT = 25, 15, 10
#: a generous client timeout: an ordinary request that is not answered in
#: this time is taken as not answered at all
CLIENT_TIMEOUT = 20


def operator(config: dict[str, Any]) -> dict[str, str]:
    """An operator's Authorization header for this service."""
    token = issue_token(config["TOKEN_SECRET"], "operator", name="operator-test")
    return {"Authorization": f"Bearer {token}"}


def address_of(config: dict[str, Any]) -> tuple[str, int]:
    """The service's (host, port)."""
    host, port = config["WEB_SERVER_ADDRESS"].rsplit(":", 1)
    return host, int(port)


def slow_body(address: tuple[str, int], path: str, headers: dict[str, str]) -> Any:
    """A POST announcing 1000 bytes of JSON and sending 3."""
    sock = socket.create_connection(address)
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {address[0]}",
        "Content-Type: application/json",
        "Content-Length: 1000",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + b'{"d')
    return sock


def half_headers(address: tuple[str, int]) -> Any:
    """A GET whose headers never end."""
    sock = socket.create_connection(address)
    sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: {address[0]}\r\nX-Wait: ".encode())
    return sock


def silent(address: tuple[str, int]) -> Any:
    """A connection that never says anything."""
    return socket.create_connection(address)


def stalled(
    stack: ExitStack, config: dict[str, Any], service: str
) -> Iterator[tuple[str, Any]]:
    """Open the 50 stalled connections: (kind, socket)."""
    path, needs_token, _ = SERVICES[service]
    address = address_of(config)
    headers = operator(config) if needs_token else {}
    for _ in range(SLOW_BODIES):
        yield "slow_body", stack.enter_context(slow_body(address, path, headers))
    for _ in range(HALF_HEADERS):
        yield "half_headers", stack.enter_context(half_headers(address))
    for _ in range(SILENT):
        yield "silent", stack.enter_context(silent(address))


def still_waiting(sock: Any) -> bool:
    """Open, and the service has sent nothing on it."""
    readable, _, _ = select.select([sock], [], [], 0)
    return not readable


def until_closed(sock: Any) -> bytes:
    """Everything the service sends before it closes the connection."""
    sock.settimeout(CLIENT_TIMEOUT)
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_stalled_connections_do_not_stop_ordinary_requests(
    service: str, request: Any
) -> None:
    config = request.getfixturevalue(f"{service}_config")
    # deadlines far longer than the test: the stalled clients stay stalled
    api = request.getfixturevalue(f"start_{service}")(
        HTTP_IDLE_TIMEOUT=120, HTTP_HEADER_TIMEOUT=120, HTTP_BODY_TIMEOUT=120
    )
    _, _, read_path = SERVICES[service]
    with api, ExitStack() as stack:
        connections = list(stalled(stack, config, service))
        eventlet.sleep(1)  # let the service take them all in

        for _ in range(10):
            health = api.get("/healthz", timeout=CLIENT_TIMEOUT)
            assert health.status_code == 200, health.text
            listed = api.get(
                read_path, headers=operator(config), timeout=CLIENT_TIMEOUT
            )
            assert listed.status_code == 200, listed.text
        if service == "intake":
            created = api.post(
                "/v1/cases", json=case_payload(random.Random(3)), timeout=CLIENT_TIMEOUT
            )
            assert created.status_code == 201, created.text

        # ... while every stalled client is still connected and unanswered
        assert [kind for kind, sock in connections if not still_waiting(sock)] == []


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_stalled_connections_are_closed(service: str, request: Any) -> None:
    config = request.getfixturevalue(f"{service}_config")
    api = request.getfixturevalue(f"start_{service}")(
        HTTP_IDLE_TIMEOUT=1, HTTP_HEADER_TIMEOUT=1, HTTP_BODY_TIMEOUT=1
    )
    with api, ExitStack() as stack:
        connections = list(stalled(stack, config, service))
        # a kept-alive connection, idle after one answered request
        kept = stack.enter_context(socket.create_connection(address_of(config)))
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")

        answers = [(kind, until_closed(sock)) for kind, sock in connections]
        for kind, answer in answers:
            if kind == "silent":
                assert answer == b"", kind  # nothing asked, nothing answered
            else:
                assert answer.startswith(b"HTTP/1.1 408 "), (kind, answer[:200])
                assert b"Connection: close" in answer, (kind, answer[:200])
        slow = [answer for kind, answer in answers if kind == "slow_body"]
        assert all(b'"code": "request_timeout"' in answer for answer in slow)

        first = until_closed(kept)
        assert first.startswith(b"HTTP/1.1 200 "), first[:200]
        assert first.count(b"HTTP/1.1") == 1

        # and the service goes on answering
        assert api.get("/healthz", timeout=CLIENT_TIMEOUT).status_code == 200
