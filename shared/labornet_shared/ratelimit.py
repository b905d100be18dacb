"""Who a request comes from, and how much it may ask (the ``limits`` package).

* :class:`TrustedProxies`: the client's address. ``X-Forwarded-For`` and
  ``Forwarded`` are believed only when the connecting peer is a listed proxy
  (``TRUSTED_PROXIES``, addresses or CIDRs), and then only up to the
  right-most address no listed proxy vouches for: anything further left was
  written by the client and may be forged.
* :class:`RateLimiter`: the per-scope request limits of DESIGN's HTTP
  conventions. Anonymous clients count per client address, agents and
  Open311 keys each on their own, agency tokens per office (agency and
  province), so one office cannot spend the whole agency's limit.
* :class:`GuessLimiter`: wrong tracking codes, counted per case reference and
  per client, so neither a distributed guesser nor one loud client gets far,
  and a storm of wrong codes on one case leaves the other cases alone.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from limits import RateLimitItem, strategies
from limits import parse as parse_rate
from limits import storage as rate_storage
from werkzeug.wrappers import Request

from labornet_shared.problems import Problem
from labornet_shared.tokens import Principal

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: wrong tracking codes a case takes, and a client makes, before 429
DEFAULT_GUESSES_PER_CASE = "20/hour"
DEFAULT_GUESSES_PER_CLIENT = "60/hour"


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP address written by a proxy (``[v6]:port``, ``v4:port`` too)."""
    text = text.strip().strip('"')
    if text.startswith("["):  # "[2001:db8::1]:4711"
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # "192.0.2.7:4711"
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _forwarded_for(header: str) -> list[str]:
    """The ``for=`` values of an RFC 7239 ``Forwarded`` header, in order."""
    found = []
    for element in header.split(","):
        for pair in element.split(";"):
            name, _, value = pair.strip().partition("=")
            if name.strip().lower() == "for":
                found.append(value.strip())
    return found


class TrustedProxies:
    """The proxies whose forwarding headers are believed (``TRUSTED_PROXIES``:
    addresses or CIDRs, separated by commas or spaces; empty: none)."""

    def __init__(self, setting: str | Iterable[str] | None) -> None:
        if setting is None:
            entries: Iterable[str] = ()
        elif isinstance(setting, str):
            entries = setting.replace(",", " ").split()
        else:
            entries = [str(entry) for entry in setting]
        # a typo here would silently trust nobody (or everybody): refuse it
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(entry.strip(), strict=False)
            for entry in entries
            if entry.strip()
        )

    def trusts(self, address: str) -> bool:
        """Whether ``address`` is a listed proxy."""
        parsed = _address(address)
        return parsed is not None and any(
            parsed in network for network in self.networks
        )

    def client_of(self, request: Request) -> str:
        """The client's address: the peer's, unless the peer is a listed
        proxy; then the right-most forwarded address no listed proxy is."""
        peer = request.remote_addr or "?"
        if not self.networks or not self.trusts(peer):
            return peer
        forwarded = ",".join(request.headers.getlist("Forwarded"))
        if forwarded:
            chain = _forwarded_for(forwarded)
        else:
            chain = ",".join(request.headers.getlist("X-Forwarded-For")).split(",")
        closest = peer
        for hop in reversed([hop for hop in chain if hop.strip()]):
            parsed = _address(hop)
            if parsed is None:
                # "unknown" or an obfuscated name: the proxy that wrote it is
                # the last address known, so it is the client we count
                return closest
            if not self.trusts(str(parsed)):
                return str(parsed)
            closest = str(parsed)
        return closest


def _storage(config: Mapping[str, Any]) -> strategies.MovingWindowRateLimiter:
    uri = str(config.get("RATE_LIMIT_STORAGE") or "memory://")
    return strategies.MovingWindowRateLimiter(rate_storage.storage_from_string(uri))


def _too_many(
    strategy: strategies.MovingWindowRateLimiter,
    limit: RateLimitItem,
    key: tuple[str, ...],
) -> Problem:
    stats = strategy.get_window_stats(limit, *key)
    retry_after = max(1, int(stats.reset_time - time.time()) + 1)
    return Problem(429, "rate_limited", headers={"Retry-After": str(retry_after)})


class RateLimiter:
    """Per-scope request limits from config, counted by the ``limits`` package."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.strategy = _storage(config)
        self.proxies = TrustedProxies(config.get("TRUSTED_PROXIES"))
        self.limits = {
            scope: parse_rate(str(config[key]))
            for scope, key in (
                ("anonymous", "RATE_LIMIT_ANONYMOUS"),
                ("agent", "RATE_LIMIT_AGENT"),
                ("agency", "RATE_LIMIT_AGENCY"),
                ("open311", "RATE_LIMIT_OPEN311"),
            )
            if config.get(key)
        }

    def bucket(self, request: Request, principal: Principal | None) -> str:
        """Whose count this request goes to."""
        if principal is None:
            return self.proxies.client_of(request)
        if principal.scope == "agency":
            # per office: a provincial office has its own count, an
            # agency-wide token one more
            return f"{principal.agency}/{principal.province or '*'}"
        return principal.subject

    def check(
        self, service: str, request: Request, principal: Principal | None
    ) -> None:
        """Count this request; raise a 429 Problem when over the limit."""
        if principal is not None and principal.is_operator:
            return
        scope = principal.scope if principal is not None else "anonymous"
        limit = self.limits.get(scope)
        if limit is None:
            return
        key = (service, scope, self.bucket(request, principal))
        if not self.strategy.hit(limit, *key):
            raise _too_many(self.strategy, limit, key)


class GuessLimiter:
    """Wrong tracking codes per case reference and per client
    (``RATE_LIMIT_TRACKING_CODE_PER_CASE`` / ``_PER_CLIENT``).

    Once either count is spent, every code for that case (or from that
    client) is answered 429 until the window moves, the right one too: else
    the answer would still tell a guesser when he is right.
    """

    def __init__(self, service: str, config: Mapping[str, Any]) -> None:
        self.service = service
        self.strategy = _storage(config)
        self.proxies = TrustedProxies(config.get("TRUSTED_PROXIES"))
        self.per_case = parse_rate(
            str(
                config.get("RATE_LIMIT_TRACKING_CODE_PER_CASE")
                or DEFAULT_GUESSES_PER_CASE
            )
        )
        self.per_client = parse_rate(
            str(
                config.get("RATE_LIMIT_TRACKING_CODE_PER_CLIENT")
                or DEFAULT_GUESSES_PER_CLIENT
            )
        )

    def _keys(
        self, request: Request, reference: str
    ) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        client = self.proxies.client_of(request)
        return [
            (self.per_case, (self.service, "code-case", reference)),
            (self.per_client, (self.service, "code-client", client)),
        ]

    @contextmanager
    def guarding(
        self, request: Request, reference: str, miss: type[Exception]
    ) -> Iterator[None]:
        """Run a tracking-code check: 429 if this case or client has spent
        its wrong codes; a ``miss`` raised inside counts as a wrong code."""
        keys = self._keys(request, reference)
        for limit, key in keys:
            if not self.strategy.test(limit, *key):
                raise _too_many(self.strategy, limit, key)
        try:
            yield
        except miss:
            for limit, key in keys:
                self.strategy.hit(limit, *key)
            raise
