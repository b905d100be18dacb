"""The exceptions that mean "the broker connection is gone", as kombu knows
them for a connection's transport.

kombu raises many classes for one dropped connection (``amqp``'s
``ConnectionError``, ``OSError`` and its kin, ``MessageNacked`` …) and wraps
a connection it could not re-establish in ``kombu.exceptions.
OperationalError``. A list written by hand misses some; the connection's own
``connection_errors`` and ``recoverable_connection_errors`` do not.
"""

from __future__ import annotations

from functools import lru_cache

import kombu
from kombu.exceptions import OperationalError


@lru_cache(maxsize=16)
def broker_connection_errors(amqp_uri: str) -> tuple[type[BaseException], ...]:
    """Every exception class a publish or an ack on ``amqp_uri`` raises when
    the connection drops or cannot be (re)opened. Opens nothing."""
    connection = kombu.Connection(amqp_uri)  # a declaration: no I/O
    return (
        *connection.connection_errors,
        *connection.recoverable_connection_errors,
        OperationalError,
    )
