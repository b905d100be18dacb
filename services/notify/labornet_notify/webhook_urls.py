"""Where a webhook may go: the checks against server-side request forgery
that a subscription's URL passes when it is created and again at every send.

Plain Python (the resolver is the system's, or the caller's): the domain
refuses an unsafe URL with it, the webhook channel connects only to the
addresses it checked.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit


class UnsafeUrl(ValueError):
    """A webhook URL notify must not call; ``reason`` is a snake_case code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class HostNotFound(UnsafeUrl):
    """The URL's host does not resolve (now): transient at send time."""


Resolver = Callable[[str, int], Sequence[str]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _address_problem(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> str | None:
    """Why ``address`` is not a public one notify may call, or ``None``."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded: ipaddress.IPv4Address | None = (
            address.ipv4_mapped or address.sixtofour
        )
        if embedded is None and address.teredo:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            problem = _address_problem(embedded)
            if problem:
                return problem
        if address.is_site_local:
            return "private"
    for problem, flag in (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link_local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ):
        if flag:
            return problem
    if not address.is_global:
        return "not_global"  # e.g. 100.64.0.0/10, documentation ranges
    return None


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def _is_localhost_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


_LEGACY_IPV4 = re.compile(r"[0-9][0-9a-fA-FxX.]*")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f-\x9f]")


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host names by itself, also in the legacy IPv4 forms
    (``2130706433``, ``0x7f.1``, ``0177.0.0.1``) that resolvers accept."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _check_target(
    url: str, allow_insecure_local: bool, resolver: Resolver | None = None
) -> _Target:
    if _CONTROL_OR_SPACE.search(url):
        # urlsplit quietly drops CR, LF and tab (WHATWG), so the URL checked
        # would not be the URL kept and sent: refuse them outright
        raise UnsafeUrl("malformed", "control characters or spaces in the URL")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl("malformed", "not a valid URL") from exc
    if port == 0:  # checked before a missing port becomes the scheme's
        raise UnsafeUrl("malformed", "port 0 is not a port")
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in ("https", "http"):
        raise UnsafeUrl("scheme", "the URL must start with https://")
    if not host:
        raise UnsafeUrl("malformed", "the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("credentials", "credentials in the URL are not accepted")
    port = port or (443 if scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    local_name = _is_localhost_name(host)
    if local_name and not allow_insecure_local:
        raise UnsafeUrl("localhost", "localhost is not a public address")
    literal = _ip_literal(host)
    if literal is not None:
        raw = [str(literal)]
    else:
        try:
            raw = list((resolver or _system_resolver)(host, port))
        except (OSError, UnicodeError) as exc:
            raise HostNotFound("host_not_found", "the host does not resolve") from exc
        if not raw:
            raise HostNotFound("host_not_found", "the host does not resolve")

    addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in raw]
    loopback_only = all(a.is_loopback for a in addresses)
    if allow_insecure_local and loopback_only:
        # Development only: a local agency system on this machine.
        return _Target(scheme, host, port, path, tuple(str(a) for a in addresses))
    if local_name:
        raise UnsafeUrl("localhost", "localhost is not a public address")
    for address in addresses:
        problem = _address_problem(address)
        if problem:
            raise UnsafeUrl(
                problem, f"the host resolves to a {problem.replace('_', '-')} address"
            )
    if scheme != "https":
        raise UnsafeUrl("scheme", "the URL must start with https://")
    return _Target(scheme, host, port, path, tuple(str(a) for a in addresses))


def check_webhook_url(
    url: str, allow_insecure_local: bool = False, resolver: Resolver | None = None
) -> None:
    """Refuse a webhook URL notify must not call (server-side request forgery).

    Accepted: ``https`` URLs whose host — a name is resolved, and *every*
    address it resolves to counts — is a public address, on any port (a
    public service on an odd port is reachable by anyone anyway; what must
    not be reachable is this network's inside). Refused: other schemes,
    credentials in the URL, ``localhost`` and ``*.localhost``, and private,
    loopback, link-local (cloud metadata at 169.254.169.254), multicast,
    reserved, unspecified, shared (100.64/10) and documentation addresses,
    also when wrapped in IPv6 (IPv4-mapped, 6to4, Teredo, NAT64).
    ``allow_insecure_local`` (development settings only) also accepts
    ``http``/``https`` to loopback: ``http://127.0.0.1:<port>``,
    ``http://localhost:<port>``, ``http://[::1]:<port>``; other private
    addresses stay refused.

    Raises:
        UnsafeUrl: with ``reason`` (``scheme``, ``credentials``,
            ``localhost``, ``loopback``, ``private``, ``link_local``,
            ``multicast``, ``reserved``, ``unspecified``, ``not_global``,
            ``malformed``) or :class:`HostNotFound` (``host_not_found``).
    """
    _check_target(url, allow_insecure_local, resolver)
