"""Readiness: is the database answering, the broker reachable, the relay
publishing, every event handler consuming? The broker check is cached
briefly so probes do not hammer it. And who may read ``/metrics``.

A nameko service whose handler queue cannot be declared (PRECONDITION_FAILED)
retries forever while its HTTP endpoints still answer; only a check that its
consumers really consume tells.
"""

from __future__ import annotations

import functools
import hmac
import importlib.metadata
import ipaddress
import time
from typing import Any

from nameko.extensions import DependencyProvider
from sqlalchemy import text
from sqlalchemy.engine import Engine

from labornet_shared.broker import BrokerUnavailable, check_broker
from labornet_shared.config import flag

_cache: dict[str, tuple[float, bool]] = {}


def database_ready(engine: Engine) -> bool:
    """Whether a trivial query succeeds."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def broker_ready(amqp_uri: str, ttl: float = 2.0) -> bool:
    """Whether RabbitMQ accepts a connection (cached ``ttl`` seconds)."""
    cached = _cache.get(amqp_uri)
    now = time.monotonic()
    if cached and now - cached[0] < ttl:
        return cached[1]
    try:
        check_broker(amqp_uri, timeout=2.0)
        ok = True
    except BrokerUnavailable:
        ok = False
    _cache[amqp_uri] = (now, ok)
    return ok


class Readiness(DependencyProvider):
    """nameko DependencyProvider: ``self.readiness()`` checks what this
    container has — its databases, the broker, its outbox relay(s) and its
    event handlers' consumers."""

    def get_dependency(self, worker_ctx: Any) -> Any:
        """A function answering the readiness document."""
        return self.check

    def check(self) -> dict[str, Any]:
        """Run every check that applies to this service.

        A handler retrying a transient failure (its database or the broker
        unavailable) makes ``consumers`` false too, and the document's
        ``retrying`` list says which handler, what kind of error (a type
        name, no personal data) and since when.
        """
        from labornet_shared.consumer import ReliableEventHandler

        document = self.check_dependencies()
        retrying = [
            state.as_dict()
            for handler in self.container.entrypoints
            if isinstance(handler, ReliableEventHandler)
            and (state := handler.current_retrying()) is not None
        ]
        if retrying:
            document["checks"]["consumers"] = False
            document["ready"] = False
            document["retrying"] = retrying
        return document

    def check_dependencies(self) -> dict[str, Any]:
        """The database(s), the broker, the relay(s), the consumers."""
        from labornet_shared.consumer import ReliableQueueConsumer
        from labornet_shared.db import Database
        from labornet_shared.outbox import OutboxRelay

        container = self.container
        engines = [
            p.engine
            for p in container.dependencies
            if isinstance(p, Database) and p.engine is not None
        ]
        relays = [
            p.loop
            for p in container.dependencies
            if isinstance(p, OutboxRelay) and p.loop is not None
        ]
        consumers = [
            e for e in container.subextensions if isinstance(e, ReliableQueueConsumer)
        ]
        checks: dict[str, bool] = {"broker": broker_ready(container.config["AMQP_URI"])}
        if engines:
            checks["database"] = all(database_ready(engine) for engine in engines)
        if relays:
            checks["outbox_relay"] = all(relay.healthy for relay in relays)
        if consumers:
            checks["consumers"] = all(c.consuming for c in consumers)
        state: dict[str, Any] = {"ready": all(checks.values()), "checks": checks}
        if relays:
            # parked events need an operator, not a restart: said, not "unready"
            state["outbox"] = {"parked": parked_events(relays)}
        return state


@functools.cache
def service_version(service: str) -> str:
    """The installed version of a service's package (``labornet-<service>``),
    or ``unknown``."""
    try:
        return importlib.metadata.version(f"labornet-{service}")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def parked_events(loops: list[Any]) -> int | None:
    """Outbox events parked after repeated refusals (None: the database did
    not answer); sets the metric too."""
    try:
        return sum(loop.relay.refresh_parked() for loop in loops)
    except Exception:
        return None


#: headers a reverse proxy adds: a request carrying one came from elsewhere,
#: even if the proxy connects from loopback
_PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


class MetricsAccess(DependencyProvider):
    """nameko DependencyProvider: ``self.metrics_access(request)`` — may this
    caller read ``/metrics``?

    ``METRICS_LOOPBACK`` (default true): a client on this machine (loopback,
    not through a proxy) may. ``METRICS_TOKEN`` (default empty: none): a
    scraper elsewhere sends ``Authorization: Bearer <token>``. Route and
    method names, counts and latencies tell an outsider how the service is
    used; they are not public.
    """

    def setup(self) -> None:
        """Read the settings."""
        config = self.container.config
        self.loopback = flag(config.get("METRICS_LOOPBACK", True))
        self.token = str(config.get("METRICS_TOKEN") or "")

    def get_dependency(self, worker_ctx: Any) -> Any:
        """The check."""
        return self.allows

    def allows(self, request: Any) -> bool:
        """Whether ``request`` (a werkzeug request) may read the metrics."""
        if self.token:
            scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(
                sent.strip().encode(), self.token.encode()
            ):
                return True
        if not self.loopback or any(h in request.headers for h in _PROXY_HEADERS):
            return False
        try:
            return ipaddress.ip_address(request.remote_addr or "").is_loopback
        except ValueError:
            return False
