"""The fault tests' TCP proxy passes on what a real network passes on: a
client that goes away (a SIGKILLed service) is gone for the server too, so
a PostgreSQL backend does not sit "idle in transaction" holding its locks,
nor a broker connection holding its unacked messages, for ever."""

from __future__ import annotations

import socket
import time

from labornet_testkit.harness import TcpProxy


def test_a_client_that_goes_away_is_gone_for_the_server_too() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    proxy = TcpProxy(server.getsockname()).start()
    try:
        client = socket.create_connection(("127.0.0.1", proxy.port))
        upstream, _ = server.accept()
        time.sleep(0.5)  # both of the proxy's pipes are waiting to read
        client.close()
        upstream.settimeout(5)
        assert upstream.recv(10) == b""  # end of stream, not a timeout
        upstream.close()
    finally:
        proxy.stop()
        server.close()
