"""Who a request comes from, as :class:`TrustedProxies` reads it."""

from __future__ import annotations

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from labornet_shared.ratelimit import TrustedProxies


def request(peer: str, **headers: str) -> Request:
    environ = EnvironBuilder(
        headers={k.replace("_", "-"): v for k, v in headers.items()}
    ).get_environ()
    environ["REMOTE_ADDR"] = peer
    return Request(environ)


PROXIES = TrustedProxies("10.0.0.0/8, 192.0.2.1 2001:db8::/32")


@pytest.mark.parametrize(
    ("peer", "headers", "client"),
    [
        # no proxy in between: the peer, whatever it claims
        ("203.0.113.9", {"X_Forwarded_For": "198.51.100.1"}, "203.0.113.9"),
        # a listed proxy: the address it took the request from
        ("10.1.2.3", {"X_Forwarded_For": "198.51.100.1"}, "198.51.100.1"),
        # the client's own (forged) entries are left of the proxies' ones
        (
            "10.1.2.3",
            {"X_Forwarded_For": "1.1.1.1, 198.51.100.1, 10.4.4.4"},
            "198.51.100.1",
        ),
        # Forwarded (RFC 7239), quoted v6 with a port, v4 with a port
        (
            "192.0.2.1",
            {"Forwarded": 'for="[2001:db9::1]:80";proto=https'},
            "2001:db9::1",
        ),
        (
            "192.0.2.1",
            {"Forwarded": 'for=1.1.1.1, for="198.51.100.2:7"'},
            "198.51.100.2",
        ),
        # a proxy that knows no address: the last proxy is the client
        ("10.1.2.3", {"X_Forwarded_For": "unknown"}, "10.1.2.3"),
        # only proxies all along: the farthest one
        ("10.1.2.3", {"X_Forwarded_For": "10.8.8.8"}, "10.8.8.8"),
        ("10.1.2.3", {}, "10.1.2.3"),
    ],
)
def test_the_client_is_the_rightmost_untrusted_address(peer, headers, client):
    assert PROXIES.client_of(request(peer, **headers)) == client


def test_nobody_is_trusted_by_default_and_typos_are_refused():
    none = TrustedProxies(None)
    assert none.client_of(request("10.1.2.3", X_Forwarded_For="1.1.1.1")) == "10.1.2.3"
    with pytest.raises(ValueError):
        TrustedProxies("10.0.0.0/33")
