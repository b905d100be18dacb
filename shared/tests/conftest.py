"""Fixtures for labornet_shared's own tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A local TCP port that refuses connections for the whole test.

    Bound but not listening: nobody else can take it meanwhile (a port that
    is merely free now may be a running test's proxy a moment later).
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
